import { setTimeout as sleep } from 'node:timers/promises'

/** One committed row of a point-in-time test's writer: Date.now() before the INSERT was sent, and once its commit was acknowledged. */
export interface Commit {
  id: number
  sent: number
  ack: number
}

/** A connection the writer commits through: one row per insert (its own transaction). */
export interface RowSink {
  insert(id: number): Promise<unknown>
  end(): Promise<unknown>
}

/**
 * Commits rows 1, 2, 3... one at a time, 10 ms apart, through `open()`'s connection, until
 * stopped or the connection fails (e.g. the engine killed), recording each acknowledgement.
 */
export function rowWriter(open: () => Promise<RowSink>) {
  const commits: Commit[] = []
  let stop = false
  let failed: Error | undefined
  const done = (async () => {
    const c = await open()
    try {
      for (let id = 1; !stop; id++) {
        const sent = Date.now()
        await c.insert(id)
        commits.push({ id, sent, ack: Date.now() })
        await sleep(10) // the workload's pace (a row every 10 ms), not a wait for a condition
      }
    } catch (e) {
      failed = e as Error
    } finally {
      await c.end().catch(() => undefined)
    }
  })()
  return {
    commits,
    get failed() {
      return failed
    },
    stop: async () => {
      stop = true
      await done
    },
    done,
  }
}

/**
 * What a restore to the latest time kept of the acknowledged commits (`have`: the ids restored):
 * the ones missing, whether they are only a tail (no hole), and the RPO, the time between the last
 * commit kept and the last acknowledged.
 */
export function rpoOf(acked: Commit[], have: Set<number>): { missing: Commit[]; tailOnly: boolean; rpoMs: number } {
  const missing = acked.filter((c) => !have.has(c.id))
  const lastKept = acked.filter((c) => have.has(c.id)).pop()
  const rpoMs = missing.length ? acked[acked.length - 1]!.ack - (lastKept?.ack ?? 0) : 0
  return { missing, tailOnly: missing.every((m) => m.id > (lastKept?.id ?? 0)), rpoMs }
}
