import type { DB } from './index.js'
import { isoNow } from './index.js'
import { repository } from './repository.js'
import { StatementCache } from './statements.js'

/** A replication set and its endpoints' addresses (m013). */
export interface ReplicationSetRow {
  id: string
  port: number
  writer_address: string
  reader_address: string
  created: string
}

/** One live member of a set with what its endpoints need: its address, port, source and task. */
export interface SetMemberRow {
  set_id: string
  instance_id: string
  address: string | null
  port: number | null
  slave_of_id: string | null
  task_id: number
  /** m014: 1 on the primary of a set with automatic failover, 2 on a primary it failed over. */
  auto_failover: number
}

/** Statements of the replication sets. */
export class ReplicationSets {
  private readonly st: StatementCache

  constructor(private readonly db: DB) {
    this.st = new StatementCache(db)
  }

  all(): ReplicationSetRow[] {
    return this.st.get('SELECT * FROM replication_sets ORDER BY id').all() as ReplicationSetRow[]
  }

  /** The set an instance belongs to, if any. */
  ofInstance(instanceId: string): ReplicationSetRow | undefined {
    return this.st.get('SELECT s.* FROM replication_sets s JOIN replication_set_members m ON m.set_id = s.id WHERE m.instance_id = ?').get(instanceId) as ReplicationSetRow | undefined
  }

  /** Every live member of every set; a deleted instance is no member. */
  members(): SetMemberRow[] {
    return this.st
      .get(
        `SELECT m.set_id, m.instance_id, i.address, i.port, i.slave_of_id, i.task_id, i.auto_failover FROM replication_set_members m
         JOIN instances i ON i.id = m.instance_id WHERE i.deleted = 0 ORDER BY m.set_id, i.created, i.id`,
      )
      .all() as SetMemberRow[]
  }

  /** Live instances in a replication relation (a replica, or a source with one) that belong to no set. */
  unplaced(): Array<{ id: string; slave_of_id: string | null }> {
    return this.st
      .get(
        `SELECT i.id, i.slave_of_id FROM instances i WHERE i.deleted = 0
           AND (i.slave_of_id IS NOT NULL OR EXISTS (SELECT 1 FROM instances r WHERE r.slave_of_id = i.id AND r.deleted = 0))
           AND NOT EXISTS (SELECT 1 FROM replication_set_members m WHERE m.instance_id = i.id)
         ORDER BY i.created, i.id`,
      )
      .all() as Array<{ id: string; slave_of_id: string | null }>
  }

  create(row: Omit<ReplicationSetRow, 'created'>): void {
    this.st.get('INSERT INTO replication_sets (id, port, writer_address, reader_address, created) VALUES (?, ?, ?, ?, ?)').run(row.id, row.port, row.writer_address, row.reader_address, isoNow())
  }

  join(instanceId: string, setId: string): void {
    this.st.get('INSERT OR REPLACE INTO replication_set_members (instance_id, set_id) VALUES (?, ?)').run(instanceId, setId)
  }

  leave(instanceId: string): void {
    this.st.get('DELETE FROM replication_set_members WHERE instance_id = ?').run(instanceId)
  }

  /** Removes a set and its memberships (deleted members' rows included). */
  remove(setId: string): void {
    this.db.transaction(() => {
      this.st.get('DELETE FROM replication_set_members WHERE set_id = ?').run(setId)
      this.st.get('DELETE FROM replication_sets WHERE id = ?').run(setId)
    })()
  }
}

/** The replication sets repository of a database (one per DB). */
export const replicationSets = repository((db: DB) => new ReplicationSets(db))
