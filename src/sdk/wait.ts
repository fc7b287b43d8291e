import { NotFoundError, WaitFailedError, WaitTimeoutError } from './errors.js'

/** Options of {@link waitFor}. */
export interface WaitOptions<T> {
  /** Fetches the resource; a NotFoundError means it is gone. */
  fetch: () => Promise<T>
  /** Its status field. */
  status: (r: T) => string
  /** Statuses that end the wait successfully; 'DELETED' means "until it is gone". */
  until: string[]
  /** Statuses that end the wait with a WaitFailedError. */
  failOn?: string[]
  /** The message of a failure, e.g. from the resource's fault. */
  failMessage?: (r: T) => string | undefined
  /** Give up after this long (default 30 minutes). */
  timeoutMs?: number
  /** Poll period (default 500 ms, growing to 2 s). */
  intervalMs?: number
  /** Called on every poll. */
  onProgress?: (r: T | undefined, elapsedMs: number) => void
  /** Aborts the wait. */
  signal?: AbortSignal
}

const sleep = (ms: number, signal?: AbortSignal) => new Promise<void>((resolve, reject) => {
  if (signal?.aborted) { reject(signal.reason ?? new Error('aborted')); return }
  const onAbort = () => { clearTimeout(t); reject(signal!.reason ?? new Error('aborted')) }
  // The listener goes when the sleep ends: long waits must not pile listeners on one signal.
  const t = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve() }, ms)
  signal?.addEventListener('abort', onAbort, { once: true })
})

/**
 * Polls a resource until it reaches a terminal status: resolves with it (or with
 * undefined once it is gone, when waiting for 'DELETED'), rejects with
 * WaitFailedError or WaitTimeoutError. The one wait the CLI's --wait uses.
 */
export async function waitFor<T>(o: WaitOptions<T>): Promise<T | undefined> {
  const start = Date.now()
  const timeout = o.timeoutMs ?? 30 * 60_000
  let interval = o.intervalMs ?? 500
  const cap = Math.max(interval, 2000)
  for (;;) {
    let r: T | undefined
    try {
      r = await o.fetch()
    } catch (e) {
      if (e instanceof NotFoundError && o.until.includes('DELETED')) { o.onProgress?.(undefined, Date.now() - start); return undefined }
      throw e
    }
    o.onProgress?.(r, Date.now() - start)
    const s = o.status(r)
    if (o.until.includes(s)) return r
    if (o.failOn?.includes(s)) throw new WaitFailedError(o.failMessage?.(r) ?? `status is ${s}`, r)
    if (Date.now() - start >= timeout) throw new WaitTimeoutError(`timed out after ${Math.round(timeout / 1000)} s waiting for status ${o.until.join(' or ')} (status is ${s})`, r)
    await sleep(Math.min(interval, Math.max(0, timeout - (Date.now() - start))), o.signal)
    interval = Math.min(cap, Math.round(interval * 1.25))
  }
}
