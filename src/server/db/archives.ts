import type { ArchiveStatus } from '../../protocol/index.js'
import type { DB } from './index.js'
import { repository } from './repository.js'
import { StatementCache } from './statements.js'

/** An instance's archive state as its agent last reported it (m012). */
export interface ArchiveRow {
  instance_id: string
  state: ArchiveStatus['state']
  latest_time: string | null
  detail: string | null
  updated: string
}

/** Statements of the archive state. */
export class Archives {
  private readonly st: StatementCache
  /** The last state written per instance: a heartbeat that changes nothing writes nothing. */
  private readonly last = new Map<string, string>()

  constructor(private readonly db: DB) {
    this.st = new StatementCache(db)
  }

  /**
   * Records a heartbeat's archive status (only when it differs from the last one). The
   * agent's word is checked first (a hostile agent may send anything): a known state, a
   * time that parses, a short one-line detail; anything else is dropped.
   */
  record(instanceId: string, raw: unknown): void {
    const s = checkStatus(raw)
    if (!s) return
    const key = `${s.state}\n${s.latest_time}\n${s.detail ?? ''}`
    if (this.last.get(instanceId) === key) return
    // A reported state 'off' with no time keeps the newest time known: the archive is still there.
    const upsert = this.st.get(`INSERT INTO instance_archives (instance_id, state, latest_time, detail, updated) VALUES (?, ?, ?, ?, ?)
      ON CONFLICT(instance_id) DO UPDATE SET state = excluded.state, latest_time = coalesce(excluded.latest_time, instance_archives.latest_time),
      detail = excluded.detail, updated = excluded.updated`)
    const args = [instanceId, s.state, s.latest_time, s.detail ?? null, new Date().toISOString()]
    // With each heartbeat (the time moves on): no fsync of its own, as Instances.heartbeat; a lost
    // one is sent again with the next heartbeat.
    if (this.db.inTransaction) upsert.run(...args)
    else {
      this.st.get('PRAGMA synchronous = NORMAL').run()
      try {
        upsert.run(...args)
      } finally {
        this.st.get('PRAGMA synchronous = FULL').run()
      }
    }
    this.last.set(instanceId, key)
  }

  get(instanceId: string): ArchiveRow | undefined {
    return this.st.get('SELECT * FROM instance_archives WHERE instance_id = ?').get(instanceId) as ArchiveRow | undefined
  }

  /**
   * Deleted instances whose archive is still recorded and that have no live backup left
   * (their retention decides when the archive goes: backups/retention.ts archiveExpired).
   */
  orphans(): ArchiveOrphanRow[] {
    return this.st
      .get(`SELECT i.id, i.deleted_at, i.backup_retention_days FROM instance_archives a JOIN instances i ON i.id = a.instance_id
      WHERE i.deleted = 1 AND NOT EXISTS (SELECT 1 FROM backups b WHERE b.instance_id = i.id AND b.deleted = 0)`)
      .all() as ArchiveOrphanRow[]
  }

  /** The archive was removed: its record goes (the last step of tasks/expire-archive.ts). */
  forget(instanceId: string): void {
    this.st.get('DELETE FROM instance_archives WHERE instance_id = ?').run(instanceId)
    this.last.delete(instanceId)
  }
}

/** A deleted instance with an archive and no live backup (Archives.orphans). */
export interface ArchiveOrphanRow {
  id: string
  deleted_at: string | null
  backup_retention_days: number
}

const STATES: ReadonlyArray<ArchiveStatus['state']> = ['off', 'streaming', 'lagging', 'gap', 'failed']

function checkStatus(raw: unknown): ArchiveStatus | undefined {
  if (raw === null || typeof raw !== 'object') return undefined
  const r = raw as Record<string, unknown>
  if (!STATES.includes(r.state as ArchiveStatus['state'])) return undefined
  const latest = typeof r.latest_time === 'string' && !Number.isNaN(Date.parse(r.latest_time)) ? new Date(Date.parse(r.latest_time)).toISOString() : null
  const detail = typeof r.detail === 'string' ? r.detail.replace(/[\x00-\x1f]+/g, ' ').slice(0, 300) : undefined
  return { state: r.state as ArchiveStatus['state'], latest_time: latest, ...(detail ? { detail } : {}) }
}

/** The archives repository of a database (one per DB). */
export const archiveStore = repository((db: DB) => new Archives(db))
