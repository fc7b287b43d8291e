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
  /**
   * Waits for the next change instead of sleeping, then fetching: resolves with the resource
   * once its status is no longer `last`'s (or as it is after at most `maxMs`); returns
   * undefined where the server offers no such wait, and waitFor polls (e.g. Instances.changed).
   */
  watch?: (last: T, maxMs: number) => Promise<T> | undefined
  /**
   * The resource as the caller has it already (e.g. a create's answer): the wait starts by
   * waiting for a change from it (watch, or a poll after the interval) instead of fetching it.
   */
  initial?: T
  /** Called on every poll. */
  onProgress?: (r: T | undefined, elapsedMs: number) => void
  /** Aborts the wait. */
  signal?: AbortSignal
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason ?? new Error('aborted'))
      return
    }
    const onAbort = () => {
      clearTimeout(t)
      reject(signal!.reason ?? new Error('aborted'))
    }
    // The listener goes when the sleep ends: long waits must not pile listeners on one signal.
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })

/** `p`, or a rejection as soon as `signal` aborts (a pending request is left to the client's close). */
function unlessAborted<T>(p: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return p
  p.catch(() => undefined) // settles after an abort: nobody listens any more
  return new Promise<T>((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason ?? new Error('aborted'))
      return
    }
    const onAbort = () => reject(signal.reason ?? new Error('aborted'))
    signal.addEventListener('abort', onAbort, { once: true })
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort))
  })
}

/**
 * Polls a resource until it reaches a terminal status: resolves with it (or with
 * undefined once it is gone, when waiting for 'DELETED'), rejects with
 * WaitFailedError or WaitTimeoutError. The one wait the CLI's --wait uses. With
 * `watch`, the server tells of each change as it happens (no polling gap) where it can.
 */
export async function waitFor<T>(o: WaitOptions<T>): Promise<T | undefined> {
  const start = Date.now()
  const timeout = o.timeoutMs ?? 30 * 60_000
  let interval = o.intervalMs ?? 500
  const cap = Math.max(interval, 2000)
  let last: T | undefined = o.initial
  // What the caller has is the first thing shown (e.g. BUILD at once after a create).
  if (o.initial !== undefined) o.onProgress?.(o.initial, 0)
  const next = async (): Promise<T> => {
    if (last === undefined) return o.fetch()
    const left = Math.max(0, timeout - (Date.now() - start))
    const changed = o.watch?.(last, left)
    if (changed) return unlessAborted(changed, o.signal)
    await sleep(Math.min(interval, left), o.signal)
    interval = Math.min(cap, Math.round(interval * 1.25))
    return o.fetch()
  }
  for (;;) {
    let r: T
    try {
      r = await next()
    } catch (e) {
      if (e instanceof NotFoundError && o.until.includes('DELETED')) {
        o.onProgress?.(undefined, Date.now() - start)
        return undefined
      }
      throw e
    }
    o.onProgress?.(r, Date.now() - start)
    const s = o.status(r)
    if (o.until.includes(s)) return r
    if (o.failOn?.includes(s)) throw new WaitFailedError(o.failMessage?.(r) ?? `status is ${s}`, r)
    if (Date.now() - start >= timeout) throw new WaitTimeoutError(`timed out after ${Math.round(timeout / 1000)} s waiting for status ${o.until.join(' or ')} (status is ${s})`, r)
    last = r
  }
}
