import type { AgentEvent, BackupInfo } from '../../protocol/index.js'
import type { Lab } from '../lab.js'
import { backupStore, type BackupRow, type Backups, RUNNING_STATES } from '../db/backups.js'
import { isStoreLocation, removeBackupFiles } from '../compute/backup-store.js'
import { isoNow } from '../db/index.js'
import type { FlowHandler, TaskRow } from './engine.js'
import { answering } from './agent-health.js'
import { agentReachable, heardSince } from './agent-health.js'
import { setTimeout as sleep } from 'node:timers/promises'

/** Upstream's agent_replication_snapshot_timeout (SNAP): how long a backup may take. */
export const BACKUP_TIMEOUT_MS = 1_800_000
/** A guest whose agent restarted mid-backup gets the cast again, this many times in all. */
const MAX_CASTS = 3

type UpdateBackup = Extract<AgentEvent, { kind: 'update_backup' }>

/**
 * Backup create (internals.md 1.4): the API wrote the row (NEW) and submitted this
 * task. The guest gets a **cast** `create_backup(backup_info)`, as upstream: a
 * backup can take longer than any call timeout, and its progress comes back as
 * `update_backup` events (BUILDING, then COMPLETED with size/checksum/location, or
 * FAILED), which onAgentEvent applies to the row. This flow waits for the row to
 * reach an end state and emits `backup_create.end|error`.
 *
 * It never leaves a backup NEW/BUILDING: a backup whose guest stops answering (no
 * heartbeat for the expiry), whose instance is gone, or that outlasts the SNAP
 * timeout is marked FAILED and its files removed. The cast is idempotent on the
 * guest (keyed by backup id), so a resumed task (server restart) or a restarted
 * agent simply gets it again.
 */
export class BackupInstanceFlow implements FlowHandler {
  readonly kind = 'create_backup'
  private readonly wake = new Map<string, () => void>()
  private readonly backups: Backups

  constructor(private readonly lab: Lab) {
    this.backups = backupStore(lab.db)
  }

  async run(task: TaskRow): Promise<void> {
    const { lab, backups } = this
    const { backupId } = JSON.parse(task.payload) as { backupId: string }
    const row = backups.get(backupId)
    if (!row || !RUNNING_STATES.includes(row.state)) return this.ended(backupId, task.instance_id)
    const inst = lab.instances.get(task.instance_id)
    if (!inst) return this.fail(row, 'The instance was deleted before its backup finished.')
    const deadline = Date.parse(task.created + 'Z') + BACKUP_TIMEOUT_MS

    if (task.step === 'cast' || task.resumed) {
      // Resumed: a cast published before the agent is back on the new broker would be
      // lost, so first wait (up to a heartbeat expiry) for the agent to report again.
      const since = Date.now()
      while (!heardSince(lab, inst.id, since) && Date.now() - since < lab.config.heartbeatExpiryMs) {
        if (lab.tasks.isClosed) throw new Error('server shutting down')
        if (!RUNNING_STATES.includes(backups.get(backupId)?.state ?? '')) break
        await sleep(100)
      }
    }
    let casts = 0
    let castPid: number | null | undefined
    let unreachableSince = 0
    for (;;) {
      if (lab.tasks.isClosed) throw new Error('server shutting down')
      const cur = backups.get(backupId)
      if (!cur || !RUNNING_STATES.includes(cur.state)) break
      if (!lab.instances.get(inst.id)) return this.fail(cur, 'The instance was deleted before its backup finished.')
      const pid = lab.instances.guestStatus(inst.id)?.agent_pid
      // First cast, or the agent restarted meanwhile (its backup died with it).
      if (casts === 0 || (castPid !== undefined && pid !== castPid && pid !== null)) {
        if (casts >= MAX_CASTS) return this.fail(cur, `The guest agent restarted ${casts} times during the backup.`)
        lab.tasks.step(task, 'cast')
        // A cast published before the agent is (back) on this broker is lost, e.g. right
        // after a server restart: make sure it answers first (up to a heartbeat expiry).
        if (!(await answering(lab, inst.id))) return this.fail(cur, 'The guest agent does not answer.')
        await lab.rpc.cast(inst.id, 'create_backup', { backup_info: this.info(cur) })
        casts++
        castPid = pid
        lab.log(`backup ${backupId} of instance ${inst.id}: create_backup sent to the guest`)
      }
      if (Date.now() >= deadline) return this.fail(cur, `The backup did not finish within ${BACKUP_TIMEOUT_MS / 1000} s.`)
      if (agentReachable(lab, inst.id)) unreachableSince = 0
      else if (!unreachableSince) unreachableSince = Date.now()
      else if (Date.now() - unreachableSince > lab.config.heartbeatExpiryMs) return this.fail(cur, 'The guest agent stopped responding during the backup.')
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          this.wake.delete(backupId)
          resolve()
        }, 1000)
        this.wake.set(backupId, () => {
          clearTimeout(timer)
          this.wake.delete(backupId)
          resolve()
        })
      })
    }
    return this.ended(backupId, inst.id)
  }

  /** The row reached an end state: the notification, and the files of a failed backup removed. */
  private ended(backupId: string, instanceId: string): void {
    const row = this.backups.row(backupId)
    if (!row) return
    if (row.state === 'COMPLETED') {
      this.lab.log(`backup ${backupId} of instance ${instanceId} COMPLETED (${row.size} GB)`)
      this.lab.notifications.end('backup_create', instanceId, undefined, { backup_id: backupId })
      return
    }
    if (row.state === 'FAILED' && !row.deleted) {
      removeBackupFiles(this.lab.config.dataDir, backupId)
      const message = this.lastMessage.get(backupId) ?? 'The backup failed.'
      this.lastMessage.delete(backupId)
      this.lab.notifications.end('backup_create', instanceId, message, { backup_id: backupId })
      throw new Error(message)
    }
  }

  private readonly lastMessage = new Map<string, string>()

  private fail(row: BackupRow, message: string): void {
    this.backups.update(row.id, { state: 'FAILED' })
    if (row.instance_id) this.lab.instances.changes.notify(row.instance_id) // its status leaves BACKUP
    this.lastMessage.set(row.id, message)
    this.lab.log(`backup ${row.id} of instance ${row.instance_id} FAILED: ${message}`)
    this.ended(row.id, row.instance_id ?? '')
  }

  private info(b: BackupRow): BackupInfo {
    const parent = b.parent_id ? this.backups.get(b.parent_id) : undefined
    const joined = this.backups.get(b.id)
    return {
      id: b.id,
      name: b.name,
      description: b.description,
      instance_id: b.instance_id ?? '',
      backup_type: b.parent_id ? 'incremental' : 'full',
      parent: parent ? { id: parent.id, location: parent.location ?? '', checksum: parent.checksum ?? '' } : null,
      datastore: joined?.ds_name ?? '',
      datastore_version: joined?.dsv_name ?? '',
    }
  }

  /**
   * update_backup from a guest (upstream's conductor): applied only to a running backup
   * of that very instance, only when newer than the last one applied. A COMPLETED
   * update must name a file of this backup inside the store.
   */
  onAgentEvent(instanceId: string, ev: UpdateBackup): void {
    const { lab, backups } = this
    const row = backups.get(ev.backupId)
    if (!row || row.instance_id !== instanceId) {
      lab.log(`update_backup for backup ${ev.backupId} from instance ${instanceId} ignored: no such backup of that instance`)
      return
    }
    if (!RUNNING_STATES.includes(row.state)) return
    let applied: boolean
    if (ev.state === 'COMPLETED') {
      const location = typeof ev.location === 'string' ? ev.location : ''
      const checksum = typeof ev.checksum === 'string' && /^[0-9a-f]{32}$/.test(ev.checksum) ? ev.checksum : undefined
      if (!isStoreLocation(lab.config.dataDir, row.id, location) || !checksum) {
        this.lastMessage.set(row.id, `The guest reported an unusable result (location ${location || 'missing'}, checksum ${checksum ?? 'missing'}).`)
        applied = backups.update(row.id, { state: 'FAILED' }, ev.sent)
      } else {
        applied = backups.update(row.id, { state: 'COMPLETED', location, checksum, size: typeof ev.size === 'number' ? ev.size : null, backup_timestamp: isoNow() }, ev.sent)
      }
    } else if (ev.state === 'FAILED') {
      this.lastMessage.set(row.id, ev.message ?? 'The backup failed on the guest.')
      applied = backups.update(row.id, { state: 'FAILED' }, ev.sent)
      if (applied) lab.log(`backup ${row.id} of instance ${instanceId} FAILED on the guest: ${ev.message ?? 'no reason given'}`)
    } else {
      applied = backups.update(row.id, { state: 'BUILDING', ...(typeof ev.size === 'number' ? { size: ev.size } : {}) }, ev.sent)
    }
    if (applied) {
      this.wake.get(row.id)?.()
      lab.instances.changes.notify(instanceId)
    }
  }
}
