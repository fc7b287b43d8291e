import type { DB } from './index.js'
import { repository } from './repository.js'

/** Upstream's reservation statuses. */
export const RESERVED = 'Reserved'
export const COMMITTED = 'Committed'
export const ROLLED_BACK = 'Rolled Back'

/** The reservations table: one usage delta held by a call under way (m002). */
export class Reservations {
  private readonly s

  constructor(db: DB) {
    this.s = {
      insert: db.prepare('INSERT INTO reservations (id, created, updated, usage_id, delta, status) VALUES (?, ?, ?, ?, ?, ?)'),
      // The status condition makes commit and rollback act once per reservation, whatever calls them twice.
      close: db.prepare(`UPDATE reservations SET status = ?, updated = ? WHERE id = ? AND status = '${RESERVED}' RETURNING usage_id, delta`),
      open: db.prepare(`SELECT id FROM reservations WHERE status = '${RESERVED}'`).pluck(),
    }
  }

  insert(id: string, usageId: string, delta: number, now: string): void {
    this.s.insert.run(id, now, now, usageId, delta, RESERVED)
  }

  /** Closes an open reservation; what it held, or undefined when it was closed already. */
  close(id: string, status: typeof COMMITTED | typeof ROLLED_BACK, now: string): { usage_id: string; delta: number } | undefined {
    return this.s.close.get(status, now, id) as { usage_id: string; delta: number } | undefined
  }

  /** Ids of the reservations still open. */
  open(): string[] {
    return this.s.open.all() as string[]
  }
}

export const reservations = repository((db) => new Reservations(db))
