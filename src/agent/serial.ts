/** Runs the operations given to it one at a time, in order; a failed one does not stop the next. */
export class Serial {
  private tail: Promise<unknown> = Promise.resolve()
  /** Operations running now (0 or 1). */
  busy = 0

  run<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(async () => {
      this.busy++
      try {
        return await fn()
      } finally {
        this.busy--
      }
    })
    this.tail = run.catch(() => undefined)
    return run
  }
}
