import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';

/**
 * The NVIDIA GPU this process would tune on, or undefined (no driver, no GPU): its tuning
 * fingerprint (tuning/<fingerprint>.json) from nvidia-smi's first GPU. The autotuner files
 * results under it; the runtime applies tuned variants only under it.
 */
export function cudaDevice(): { fingerprint: string; description: string; name: string; computeCapability: string; driver: string } | undefined {
  try {
    const line = execFileSync('nvidia-smi', ['--query-gpu=name,compute_cap,driver_version', '--format=csv,noheader'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n')[0];
    const [name, computeCapability, driver] = line.split(',').map((s) => s.trim());
    if (!name) return undefined;
    const slug = name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
    const hash = createHash('sha256').update(line).digest('hex').slice(0, 8);
    return { fingerprint: `cuda-${slug}-sm${computeCapability.replace('.', '')}-${hash}`, description: line, name, computeCapability, driver };
  } catch {
    return undefined;
  }
}
