/**
 * Wakes the long polls of `GET /instances/{id}?wait_for_change=STATUS` (an API extension,
 * README "API notes") when something an instance's status derives from was written: its
 * task, server status, guest status, fault, deletion, a backup of it. A poll that is not
 * woken re-reads the row every second anyway, so a write that does not notify (a direct
 * UPDATE elsewhere) costs at most that second, never a missed change.
 *
 * Hand-written: a per-key one-shot wake-up with a timeout and a close that releases every
 * waiter is a few lines; an EventEmitter per key would need the same bookkeeping around it.
 */
export class InstanceChanges {
  private readonly waiters = new Map<string, Set<() => void>>()
  private closed = false

  /** Something of instance `id` changed: wakes its waiters (each wakes once, then re-reads). */
  notify(id: string): void {
    const set = this.waiters.get(id)
    if (!set) return
    this.waiters.delete(id)
    for (const wake of set) wake()
  }

  /** Resolves at the next notify(id), after `ms`, when `signal` aborts, or at close(): whichever comes first. */
  next(id: string, ms: number, signal?: AbortSignal): Promise<void> {
    if (this.closed || signal?.aborted) return Promise.resolve()
    return new Promise<void>((resolve) => {
      let set = this.waiters.get(id)
      if (!set) this.waiters.set(id, (set = new Set()))
      const wake = (): void => {
        clearTimeout(timer)
        signal?.removeEventListener('abort', wake)
        const s = this.waiters.get(id)
        if (s?.delete(wake) && s.size === 0) this.waiters.delete(id)
        resolve()
      }
      const timer = setTimeout(wake, Math.max(0, ms))
      signal?.addEventListener('abort', wake, { once: true })
      set.add(wake)
    })
  }

  /** True once the server is closing: polls answer at once. */
  get isClosed(): boolean {
    return this.closed
  }

  /** How many polls wait now (tests, leak checks). */
  get waiting(): number {
    let n = 0
    for (const s of this.waiters.values()) n += s.size
    return n
  }

  /** Server shutdown: every waiter answers now, later ones do not wait (close() drains requests). */
  close(): void {
    this.closed = true
    for (const id of [...this.waiters.keys()]) this.notify(id)
  }
}
