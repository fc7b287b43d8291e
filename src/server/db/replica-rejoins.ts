import type { DB } from './index.js'
import { isoNow } from './index.js'
import { repository } from './repository.js'
import { StatementCache } from './statements.js'

/** An ejected source waiting to rejoin its set as a replica of `new_source_id` (m015). */
export interface ReplicaRejoinRow {
  instance_id: string
  new_source_id: string
  ejected: string
}

/** Statements of the pending rejoins. */
export class ReplicaRejoins {
  private readonly st: StatementCache

  constructor(db: DB) {
    this.st = new StatementCache(db)
  }

  get(instanceId: string): ReplicaRejoinRow | undefined {
    return this.st.get('SELECT * FROM replica_rejoins WHERE instance_id = ?').get(instanceId) as ReplicaRejoinRow | undefined
  }

  /** Ids of the ejected sources still to rejoin. */
  pendingIds(): Set<string> {
    return new Set(this.st.get('SELECT instance_id FROM replica_rejoins').pluck().all() as string[])
  }

  /** Records (or re-targets) the rejoin of an ejected source. */
  record(instanceId: string, newSourceId: string): void {
    this.st
      .get(
        'INSERT INTO replica_rejoins (instance_id, new_source_id, ejected) VALUES (?, ?, ?) ON CONFLICT(instance_id) DO UPDATE SET new_source_id = excluded.new_source_id, ejected = excluded.ejected',
      )
      .run(instanceId, newSourceId, isoNow())
  }

  remove(instanceId: string): void {
    this.st.get('DELETE FROM replica_rejoins WHERE instance_id = ?').run(instanceId)
  }

  /** Rejoined: the row goes, and the faults that announced the rejoin (`prefix`) are no longer shown. */
  done(instanceId: string, prefix: string): void {
    this.remove(instanceId)
    this.st.get('UPDATE instance_faults SET deleted = 1, updated = ? WHERE instance_id = ? AND deleted = 0 AND substr(message, 1, length(?)) = ?').run(isoNow(), instanceId, prefix, prefix)
  }
}

export const replicaRejoins = repository((db: DB) => new ReplicaRejoins(db))
