import { randomUUID } from 'node:crypto'
import type { DB } from './index.js'
import { isoNow } from './index.js'
import { InstanceTask, type InstanceTaskName } from '../tasks/instance-tasks.js'
import { ServiceStatus, type FilesystemStats, type ServiceStatusName } from '../../protocol/index.js'
import { InstanceChanges } from '../instance-changes.js'
import { StatementCache } from './statements.js'

export interface InstanceRow {
  id: string
  name: string
  tenant_id: string
  created: string
  updated: string
  flavor_id: string
  volume_size: number | null
  volume_type: string | null
  datastore_version_id: string | null
  task_id: number
  task_description: string
  task_start_time: string | null
  server_status: string
  address: string | null
  port: number | null
  region_id: string
  access: string | null
  deleted: number
  deleted_at: string | null
  /** The replica source of a replica (m010); absent in rows of callers that do not set it. */
  slave_of_id?: string | null
  /** Retention of automated backups (m011): days (0 = automated backups off) and a count (null = none). */
  backup_retention_days?: number
  backup_retention_count?: number | null
  /** Automatic failover of the replication set this instance is the primary of (m014): 1 = on. */
  auto_failover?: number
  /** A failed-over primary (auto_failover 2): the primary that took its place (m014). */
  failed_over_to?: string | null
  /** Synchronous replication of the replication set this instance is the primary of (m016): 1 = on. */
  sync_replication?: number
}

/** An instance with what its views need in one row: version, datastore, guest status, fault. */
export interface InstanceJoined extends InstanceRow {
  ds_name: string | null
  dsv_name: string | null
  dsv_version: string | null
  dsv_manager: string | null
  dsv_bin_dir: string | null
  status_id: number | null
  status_description: string | null
  status_updated: string | null
  fault_message: string | null
  fault_created: string | null
  fault_details: string | null
  /** 1 while a backup of the instance is NEW/BUILDING/SAVING (API status BACKUP). */
  backup_running?: number | null
  /** The live replicas' ids, comma-separated, oldest first (NULL: none). */
  replica_ids?: string | null
}

const JOINED = `
SELECT i.*, d.name AS ds_name, v.name AS dsv_name, v.version AS dsv_version, v.manager AS dsv_manager, v.bin_dir AS dsv_bin_dir,
  s.status_id, s.status_description, s.updated_at AS status_updated,
  f.message AS fault_message, f.created AS fault_created, f.details AS fault_details,
  (SELECT 1 FROM backups b WHERE b.instance_id = i.id AND b.deleted = 0 AND b.state IN ('NEW', 'BUILDING', 'SAVING') LIMIT 1) AS backup_running,
  (SELECT group_concat(id) FROM (SELECT r.id FROM instances r WHERE r.slave_of_id = i.id AND r.deleted = 0 ORDER BY r.created, r.id)) AS replica_ids
FROM instances i
LEFT JOIN datastore_versions v ON v.id = i.datastore_version_id
LEFT JOIN datastores d ON d.id = v.datastore_id
LEFT JOIN service_statuses s ON s.instance_id = i.id
LEFT JOIN instance_faults f ON f.id = (SELECT id FROM instance_faults WHERE instance_id = i.id AND deleted = 0 ORDER BY created DESC LIMIT 1)`

/**
 * The same columns without the latest fault (NULLs): the plain instance list never
 * shows a fault, and its per-row fault lookup is a sixth of a list request's time.
 */
const JOINED_NO_FAULT = JOINED.replace(
  'f.message AS fault_message, f.created AS fault_created, f.details AS fault_details,',
  'NULL AS fault_message, NULL AS fault_created, NULL AS fault_details,',
).replace(/\nLEFT JOIN instance_faults f ON [^\n]*/, '')

/**
 * A list statement returning plain objects faster than better-sqlite3's own: rows come
 * raw (arrays) and one generated function per statement builds each object with a fixed
 * shape (a quarter less time for a page of instances, the API's most frequent query).
 */
function fastRows(stmt: ReturnType<DB['prepare']>): (...args: unknown[]) => unknown[] {
  const names = stmt.columns().map((c) => c.name)
  // eslint-disable-next-line @typescript-eslint/no-implied-eval -- column names from our own SQL, quoted with JSON.stringify
  const make = new Function('r', `return {${names.map((n, i) => `${JSON.stringify(n)}: r[${i}]`).join(', ')}}`) as (r: unknown[]) => unknown
  stmt.raw(true)
  const all = stmt.all.bind(stmt) as (...a: unknown[]) => unknown[][]
  return (...args) => all(...args).map(make)
}

/** Prepared statements for instances and their guest statuses and faults. */
export class Instances {
  private readonly s
  /** Statements prepared on first use (columns added by later migrations). */
  private readonly st: StatementCache
  /** Wakes long polls of GET /instances/{id}?wait_for_change when a row below changes. */
  readonly changes = new InstanceChanges()

  constructor(private readonly db: DB) {
    this.st = new StatementCache(db)
    this.s = {
      get: db.prepare(`${JOINED} WHERE i.id = ? AND i.deleted = 0`),
      listTenant: fastRows(db.prepare(`${JOINED} WHERE i.tenant_id = ? AND i.deleted = 0 AND i.id > ? ORDER BY i.id LIMIT ?`)),
      listTenantNoFault: fastRows(db.prepare(`${JOINED_NO_FAULT} WHERE i.tenant_id = ? AND i.deleted = 0 AND i.id > ? ORDER BY i.id LIMIT ?`)),
      listAll: db.prepare(`${JOINED} WHERE i.deleted = 0 ORDER BY i.id`),
      getAny: db.prepare(`${JOINED} WHERE i.id = ?`),
      // Mgmt list (api.md 3): every project, newest update first, offset pagination; NULL = no filter.
      listMgmt: db.prepare(`${JOINED} WHERE (@deleted IS NULL OR i.deleted = @deleted) AND (@tenant IS NULL OR i.tenant_id = @tenant)
        ORDER BY i.updated DESC, i.id LIMIT @limit OFFSET @offset`),
      addresses: db.prepare('SELECT address FROM instances WHERE deleted = 0 AND address IS NOT NULL').pluck(),
      insert: db.prepare(`INSERT INTO instances (id, name, tenant_id, created, updated, flavor_id, volume_size, volume_type, datastore_version_id,
        task_id, task_description, task_start_time, server_status, address, port, region_id, access)
        VALUES (@id, @name, @tenant_id, @created, @updated, @flavor_id, @volume_size, @volume_type, @datastore_version_id,
        @task_id, @task_description, @task_start_time, @server_status, @address, @port, @region_id, @access)`),
      insertStatus: db.prepare('INSERT INTO service_statuses (instance_id, status_id, status_description, updated_at) VALUES (?, ?, ?, ?)'),
      setTask: db.prepare('UPDATE instances SET task_id = ?, task_description = ?, task_start_time = ?, updated = ? WHERE id = ?'),
      setServer: db.prepare('UPDATE instances SET server_status = ?, updated = ? WHERE id = ?'),
      setStatus: db.prepare('UPDATE service_statuses SET status_id = ?, status_description = ?, updated_at = ? WHERE instance_id = ?'),
      heartbeat: db.prepare(`UPDATE service_statuses SET status_id = ?, status_description = ?, updated_at = ?, last_sent = ?, agent_pid = ?, engine_pid = ?
        WHERE instance_id = ? AND last_sent < ?`),
      // Heartbeats commit without their own fsync (see heartbeat()).
      syncNormal: db.prepare('PRAGMA synchronous = NORMAL'),
      syncFull: db.prepare('PRAGMA synchronous = FULL'),
      statusOf: db.prepare('SELECT status_id, status_description, updated_at, agent_pid, engine_pid FROM service_statuses WHERE instance_id = ?'),
      addFault: db.prepare('INSERT INTO instance_faults (id, instance_id, message, details, created, updated) VALUES (?, ?, ?, ?, ?, ?)'),
      markDeleted: db.prepare('UPDATE instances SET deleted = 1, deleted_at = ?, updated = ?, task_id = ?, task_description = ?, address = NULL WHERE id = ?'),
    }
  }

  get(id: string): InstanceJoined | undefined {
    return this.s.get.get(id) as InstanceJoined | undefined
  }

  /** One page of a project's instances, ids ascending after `marker` (upstream's pagination). */
  /** A page of a project's instances by id; `withFault: false` leaves the fault columns NULL (cheaper). */
  listForTenant(tenantId: string, marker: string, limit: number, withFault = true): InstanceJoined[] {
    return (withFault ? this.s.listTenant : this.s.listTenantNoFault)(tenantId, marker, limit) as InstanceJoined[]
  }

  listAll(): InstanceJoined[] {
    return this.s.listAll.all() as InstanceJoined[]
  }

  /** An instance, deleted or not (mgmt views). */
  getAny(id: string): InstanceJoined | undefined {
    return this.s.getAny.get(id) as InstanceJoined | undefined
  }

  /** A page of every project's instances for the mgmt list; `deleted`/`tenantId` undefined: no filter. */
  listMgmt(o: { deleted?: boolean; tenantId?: string; offset: number; limit: number }): InstanceJoined[] {
    return this.s.listMgmt.all({ deleted: o.deleted === undefined ? null : Number(o.deleted), tenant: o.tenantId ?? null, offset: o.offset, limit: o.limit }) as InstanceJoined[]
  }

  addressesInUse(): Set<string> {
    return new Set(this.s.addresses.all() as string[])
  }

  create(row: Omit<InstanceRow, 'created' | 'updated' | 'task_id' | 'task_description' | 'task_start_time' | 'server_status' | 'deleted' | 'deleted_at'>): void {
    const now = isoNow()
    this.db.transaction(() => {
      this.s.insert.run({ ...row, created: now, updated: now, task_id: InstanceTask.BUILDING.id, task_description: InstanceTask.BUILDING.description, task_start_time: now, server_status: 'BUILD' })
      this.s.insertStatus.run(row.id, ServiceStatus.NEW.code, ServiceStatus.NEW.description, now)
    })()
  }

  setTask(id: string, task: InstanceTaskName): void {
    const t = InstanceTask[task]
    const now = isoNow()
    this.s.setTask.run(t.id, t.description, task === 'NONE' ? null : now, now, id)
    this.changes.notify(id)
  }

  setServerStatus(id: string, status: 'BUILD' | 'ACTIVE' | 'ERROR' | 'SHUTDOWN'): void {
    this.s.setServer.run(status, isoNow(), id)
    this.changes.notify(id)
  }

  setServiceStatus(id: string, status: ServiceStatusName): void {
    const s = ServiceStatus[status]
    this.s.setStatus.run(s.code, s.description, isoNow(), id)
    this.changes.notify(id)
  }

  /** Applies a heartbeat unless an equally new or newer one was seen (upstream's conductor_lastseen guard). */
  /**
   * Volume usage an agent sent with a heartbeat (protocol: at most a second old when sent),
   * kept in memory only: the instance view uses it while it is that fresh instead of a call.
   */
  private readonly usage = new Map<string, { at: number; stats: FilesystemStats }>()

  /** The usage of `id` an agent sent within the last `maxAgeMs`, if any. */
  recentUsage(id: string, maxAgeMs: number): FilesystemStats | undefined {
    const u = this.usage.get(id)
    if (u && Date.now() - u.at <= maxAgeMs) return u.stats
    this.usage.delete(id)
    return undefined
  }

  heartbeat(id: string, status: ServiceStatusName, sent: number, agentPid: number | null, enginePid: number | null, volume?: unknown): boolean {
    const s = ServiceStatus[status]
    // Every agent sends one every few seconds: an fsync each (synchronous=FULL) blocked the event loop
    // for most of the time at 1,000 agents. A heartbeat that a crash loses is simply sent again, and
    // in WAL mode the next FULL commit or checkpoint makes it durable anyway.
    let applied: boolean
    if (this.db.inTransaction) applied = this.s.heartbeat.run(s.code, s.description, isoNow(), sent, agentPid, enginePid, id, sent).changes > 0
    else {
      this.s.syncNormal.run()
      try {
        applied = this.s.heartbeat.run(s.code, s.description, isoNow(), sent, agentPid, enginePid, id, sent).changes > 0
      } finally {
        this.s.syncFull.run()
      }
    }
    if (applied) {
      // An agent's word, checked like any other: three finite, non-negative numbers.
      const v = volume as Partial<FilesystemStats> | undefined
      if (v && [v.used, v.total, v.free].every((n) => typeof n === 'number' && Number.isFinite(n) && n >= 0))
        this.usage.set(id, { at: Date.now(), stats: { used: v.used!, total: v.total!, free: v.free! } })
      this.changes.notify(id)
    }
    return applied
  }

  guestStatus(id: string): { status_id: number; status_description: string; updated_at: string; agent_pid: number | null; engine_pid: number | null } | undefined {
    return this.s.statusOf.get(id) as never
  }

  addFault(id: string, message: string, details: string | null = null): void {
    const now = isoNow()
    this.s.addFault.run(randomUUID(), id, message.slice(0, 255), details, now, now)
    this.changes.notify(id)
  }

  /** Makes `id` a replica of `sourceId`, or (null) a standalone instance. */
  setSlaveOf(id: string, sourceId: string | null): void {
    this.st.get('UPDATE instances SET slave_of_id = ?, updated = ? WHERE id = ?').run(sourceId, isoNow(), id)
    this.changes.notify(id)
  }

  /** Automatic failover of the set `id` is the primary of (m014): off (false, 0), on (true, 1), or 2: failed over (ha/flag.ts). */
  setAutoFailover(id: string, value: boolean | 0 | 1 | 2, failedOverTo: string | null = null): void {
    this.st.get('UPDATE instances SET auto_failover = ?, failed_over_to = ?, updated = ? WHERE id = ?').run(Number(value), failedOverTo, isoNow(), id)
    this.changes.notify(id)
  }

  /** Live failed-over primaries (auto_failover 2) that `id` took the place of. */
  failedOverTo(id: string): string[] {
    return this.st.pluck('SELECT id FROM instances WHERE auto_failover = 2 AND failed_over_to = ? AND deleted = 0 ORDER BY id').all(id) as string[]
  }

  /** The live instances whose auto_failover is `value` (1: on). */
  autoFailoverIds(value: 1 | 2 = 1): string[] {
    return this.st.pluck('SELECT id FROM instances WHERE auto_failover = ? AND deleted = 0 ORDER BY id').all(value) as string[]
  }

  /** Synchronous replication of the set `id` is the primary of (m016, ha/sync.ts). */
  setSyncReplication(id: string, on: boolean): void {
    this.st.get('UPDATE instances SET sync_replication = ?, updated = ? WHERE id = ?').run(Number(on), isoNow(), id)
    this.changes.notify(id)
  }

  /** The live primaries with synchronous replication on. */
  syncReplicationIds(): string[] {
    return this.st.pluck('SELECT id FROM instances WHERE sync_replication = 1 AND deleted = 0 ORDER BY id').all() as string[]
  }

  // Column updates that wake no long poll (the API status does not change with them).
  rename(id: string, name: string): void {
    this.st.get('UPDATE instances SET name = ?, updated = ? WHERE id = ?').run(name, isoNow(), id)
  }

  setAccess(id: string, access: string): void {
    this.st.get('UPDATE instances SET access = ?, updated = ? WHERE id = ?').run(access, isoNow(), id)
  }

  setDatastoreVersion(id: string, versionId: string): void {
    this.st.get('UPDATE instances SET datastore_version_id = ?, updated = ? WHERE id = ?').run(versionId, isoNow(), id)
  }

  setFlavor(id: string, flavorId: string): void {
    this.st.get('UPDATE instances SET flavor_id = ?, updated = ? WHERE id = ?').run(flavorId, isoNow(), id)
  }

  setVolumeSize(id: string, size: number): void {
    this.st.get('UPDATE instances SET volume_size = ?, updated = ? WHERE id = ?').run(size, isoNow(), id)
  }

  /** The attached configuration group at create (configurations/attach.ts writes it otherwise). */
  setConfiguration(id: string, configurationId: string | null): void {
    this.st.get('UPDATE instances SET configuration_id = ? WHERE id = ?').run(configurationId, id)
  }

  /** When the agent last sent a heartbeat (epoch ms; 0 never), undefined without a status row. */
  lastSent(id: string): number | undefined {
    return this.st.pluck('SELECT last_sent FROM service_statuses WHERE instance_id = ?').get(id) as number | undefined
  }

  /** The guest's last reported status and when it was sent. */
  lastReport(id: string): { status_description: string; last_sent: number } | undefined {
    return this.st.get('SELECT status_description, last_sent FROM service_statuses WHERE instance_id = ?').get(id) as { status_description: string; last_sent: number } | undefined
  }

  /** Every row, deleted or not, with what the reconciler needs. */
  reconcileRows(): Array<{ id: string; deleted: number; address: string | null; task_id: number; task_start_time: string | null }> {
    return this.st.get('SELECT id, deleted, address, task_id, task_start_time FROM instances').all() as never
  }

  /** The live replicas of a source, oldest first. */
  replicasOf(id: string): InstanceJoined[] {
    return this.st.get(`${JOINED} WHERE i.slave_of_id = ? AND i.deleted = 0 ORDER BY i.created, i.id`).all(id) as InstanceJoined[]
  }

  /** The ids of an instance's replicas (every instance view asks: one prepared index lookup). */
  replicaIds(id: string): string[] {
    return this.st.pluck('SELECT id FROM instances WHERE slave_of_id = ? AND deleted = 0 ORDER BY created, id').all(id) as string[]
  }

  markDeleted(id: string): void {
    const now = isoNow()
    this.s.markDeleted.run(now, now, InstanceTask.NONE.id, InstanceTask.NONE.description, id)
    this.changes.notify(id)
  }
}
