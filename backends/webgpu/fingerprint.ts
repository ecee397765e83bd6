import { createHash } from 'node:crypto';
import type { GpuContext } from './device.js';

/**
 * Tuning results are only valid on the device they were measured on: the adapter's
 * identity plus the features and limits that change which kernels are legal or fast.
 */
export function webgpuFingerprint(gpu: GpuContext): { fingerprint: string; description: string; vendor: string; architecture: string; features: string[]; limits: Record<string, number> } {
  const { vendor, architecture, description } = gpu.info;
  const keyLimits = ['maxComputeInvocationsPerWorkgroup', 'maxComputeWorkgroupStorageSize', 'maxStorageBuffersPerShaderStage', 'maxComputeWorkgroupSizeX'];
  const limits = Object.fromEntries(keyLimits.map((l) => [l, gpu.limits[l]]));
  const features = [...gpu.features].sort();
  const hash = createHash('sha256').update(JSON.stringify({ vendor, architecture, description, features, limits })).digest('hex').slice(0, 8);
  const slug = `${vendor}-${architecture}`.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '') || 'unknown';
  return { fingerprint: `webgpu-${slug}-${hash}`, description, vendor, architecture, features, limits };
}
