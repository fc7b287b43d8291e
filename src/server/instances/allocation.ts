import type { Lab } from '../lab.js'
import { Fault, badRequest } from '../errors.js'

/** A tiny async mutex (a few lines; no library is needed for a promise chain). */
class Lock {
  private tail: Promise<unknown> = Promise.resolve()
  run<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.tail.then(fn, fn)
    this.tail = next.catch(() => undefined)
    return next
  }
}

/** Held while an address is reserved and the row written (create and replica create), so two creates never pick the same address. */
export const allocationLock = new Lock()

/** A create's volume size: a positive integer (400) within max_accepted_volume_size (413). */
export function checkVolumeSize(lab: Lab, raw: number | string): number {
  const size = Number(raw)
  if (!Number.isInteger(size) || size <= 0) throw badRequest(`Volume 'size' needs to be a positive integer value, ${String(raw)} cannot be accepted.`)
  checkVolumeLimit(lab, size)
  return size
}

/** max_accepted_volume_size (413). */
export function checkVolumeLimit(lab: Lab, size: number): void {
  if (size > lab.config.maxVolumeSize) throw new Fault('overLimit', `Volume 'size' cannot exceed maximum of ${lab.config.maxVolumeSize} GB, ${size} cannot be accepted.`)
}
