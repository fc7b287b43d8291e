import { randomUUID } from 'node:crypto'
import type { Lab } from '../lab.js'
import { scheduleStore, type BackupSchedules, type ScheduleRow } from '../db/backup-schedules.js'
import { isoNow } from '../db/index.js'
import { Fault } from '../errors.js'
import { createBackup } from './lifecycle.js'
import { archiveStore } from '../db/archives.js'
import { archiveExpired, expiredBackups } from './retention.js'
import { nextRun } from './schedules.js'

/** What one pass did (tests and the log read it). */
export interface TickResult {
  /** Executions started: [schedule id, execution id]. */
  ran: Array<[string, string]>
  /** expire_backups tasks submitted: instance ids. */
  expiring: string[]
  /** expire_archive tasks submitted (a deleted instance's archive that nothing needs): instance ids. */
  archives: string[]
}

/**
 * The server's backup scheduler (issue 15; upstream leaves this to Mistral's cron
 * triggers). One pass runs every schedule whose `next_run` has come, through the same
 * path as `POST /backups` (quota, instance state), as an automated backup, and records
 * the execution with its outcome; the schedule's next run is then computed from now, so
 * a server that was down over several due times runs a schedule once, not once per
 * missed time. The pass then submits the expiry of automated backups past their
 * instance's retention (tasks/expire-backups.ts).
 *
 * The clock is injected (tests move it); a timer runs a pass when the earliest schedule
 * is due, and at least every `maxSleepMs` for retention (0: no timer, passes only when
 * `tick()` is called).
 */
export class BackupScheduler {
  private timer: NodeJS.Timeout | undefined
  private running = false
  private readonly store: BackupSchedules

  constructor(
    private readonly lab: Lab,
    readonly now: () => Date,
    private readonly maxSleepMs = 30_000,
  ) {
    this.store = scheduleStore(lab.db)
  }

  /** At server start: executions a killed server left without a backup get their error; then the loop starts. */
  start(): void {
    for (const id of this.store.orphanExecutions()) this.store.setExecution(id, { state: 'ERROR', error: 'The server stopped before the backup started.' })
    this.running = true
    this.arm(0)
  }

  stop(): void {
    this.running = false
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
  }

  /** A schedule was created or deleted: look again at when the next pass is due. */
  wake(): void {
    if (this.running) this.arm(0)
  }

  private arm(delayMs: number): void {
    if (!this.running || this.maxSleepMs <= 0) return
    if (this.timer) clearTimeout(this.timer)
    this.timer = setTimeout(() => {
      this.timer = undefined
      try {
        this.tick()
      } catch (e) {
        this.lab.log(`backup scheduler: ${(e as Error).message}`)
      }
      const earliest = this.store.earliest()
      const until = earliest ? Date.parse(`${earliest}Z`) - this.now().getTime() : this.maxSleepMs
      this.arm(Math.max(200, Math.min(until, this.maxSleepMs)))
    }, delayMs)
    this.timer.unref()
  }

  /** One pass at the clock's now: due schedules, then retention. */
  tick(): TickResult {
    const now = this.now()
    const result: TickResult = { ran: [], expiring: [], archives: [] }
    // A deleted instance's schedules go with it (its automated backups stay for the retention period).
    for (const id of this.store.ofDeletedInstances()) this.store.delete(id)
    for (const s of this.store.due(isoNow(now))) result.ran.push([s.id, this.runSchedule(s, now)])
    result.expiring = this.sweep(now)
    result.archives = this.sweepArchives(now)
    return result
  }

  /** Runs one due schedule: the execution and the schedule's next run are written before the backup starts. */
  private runSchedule(s: ScheduleRow, now: Date): string {
    const { lab, store } = this
    const execId = randomUUID()
    lab.db.transaction(() => {
      store.insertExecution({ id: execId, schedule_id: s.id, tenant_id: s.tenant_id, instance_id: s.instance_id, scheduled_at: s.next_run, started: isoNow(now), state: 'RUNNING' })
      store.setRun(s.id, isoNow(now), isoNow(nextRun(s.pattern, now) ?? new Date(8.64e15)), isoNow(now))
    })()
    try {
      const retention = store.retentionOf(s.instance_id)
      if (retention && !retention.deleted && retention.backup_retention_days === 0) {
        throw new Fault('conflict', `Automated backups of instance ${s.instance_id} are off (backup retention 0 days).`)
      }
      // An incremental schedule with no completed backup to build on takes a full one (createBackup's `incremental: 1`).
      const backupId = createBackup(
        lab,
        { automated: true, now },
        { projectId: s.tenant_id, isAdmin: false },
        { name: s.name, instance: s.instance_id, ...(s.description ? { description: s.description } : {}), incremental: s.incremental },
      )
      store.setExecution(execId, { state: 'RUNNING', backup_id: backupId })
      lab.log(`backup schedule ${s.id}: backup ${backupId} of instance ${s.instance_id} started`)
    } catch (e) {
      const message = e instanceof Fault ? `${e.message} (HTTP ${e.status})` : (e as Error).message
      store.setExecution(execId, { state: 'ERROR', error: message })
      lab.log(`backup schedule ${s.id}: no backup of instance ${s.instance_id}: ${message}`)
    }
    return execId
  }

  /** Submits the expiry of every instance with automated backups past retention (one task per instance at a time). */
  private sweep(now: Date): string[] {
    const { lab, store } = this
    const out: string[] = []
    for (const inst of store.retentionInstances()) {
      if (lab.tasks.running(inst.id, 'expire_backups')) continue
      const ids = expiredBackups(inst, store.liveBackups(inst.id), now)
      if (!ids.length) continue
      lab.tasks.submit('expire_backups', inst.id, { backupIds: ids })
      out.push(inst.id)
    }
    return out
  }

  /** Submits the removal of each deleted instance's archive that no backup needs and whose retention passed (tasks/expire-archive.ts). */
  private sweepArchives(now: Date): string[] {
    const { lab } = this
    const out: string[] = []
    for (const inst of archiveStore(lab.db).orphans()) {
      if (!archiveExpired(inst, now) || lab.tasks.running(inst.id, 'expire_archive')) continue
      lab.tasks.submit('expire_archive', inst.id)
      out.push(inst.id)
    }
    return out
  }
}
