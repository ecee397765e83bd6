/**
 * What can go wrong on the device side of a launch, kept with the launch it belongs to:
 * error scopes bracket one caller's commands (the scope stack is the device's, but push
 * and pop happen without an await between them, so concurrent callers never share one),
 * and a destroyed or lost device is reported as such instead of Dawn's empty exceptions.
 */

// Popped in reverse: a validation error, the commonest, is reported first.
const FILTERS: readonly GPUErrorFilter[] = ['internal', 'out-of-memory', 'validation'];

/**
 * Runs `f` inside one error scope per filter and closes them whether or not it throws;
 * the promise yields the first error the device reported for what `f` did.
 */
export function withErrorScopes<T>(device: GPUDevice, f: () => T): [T, Promise<GPUError | null>] {
  for (const x of FILTERS) device.pushErrorScope(x);
  const close = () => Promise.all(FILTERS.map(() => device.popErrorScope())).then((errors) => errors.find((e) => e !== null) ?? null);
  let value: T;
  try {
    value = f();
  } catch (e) {
    void close();
    throw e;
  }
  return [value, close()];
}

/** A runtime call on a device that was destroyed or lost; `where` names the kernel or the transfer. */
export class DeviceLostError extends Error {
  constructor(readonly where: string, readonly info: GPUDeviceLostInfo) {
    super(`[${where}] the WebGPU device was ${info.reason === 'destroyed' ? 'destroyed' : 'lost'} (${info.message || info.reason})`);
    this.name = 'DeviceLostError';
  }
}

/**
 * Remembers whether `device` is gone. Dawn resolves `device.lost` a microtask after
 * destroy(), so a call right after it may still start; the checks after each await catch it.
 */
export class DeviceWatch {
  private lost: GPUDeviceLostInfo | undefined;

  constructor(device: GPUDevice) {
    device.lost.then((info) => { this.lost = info; });
  }

  /** Throws a DeviceLostError naming `where` once the device is gone. */
  check(where: string): void {
    if (this.lost) throw new DeviceLostError(where, this.lost);
  }
}
