import type { DB } from './index.js'
import { repository } from './repository.js'
import { StatementCache } from './statements.js'

/** A backup schedule (m011). Times are naive UTC ("2026-12-05T11:00:00"). */
export interface ScheduleRow {
  id: string
  tenant_id: string
  instance_id: string
  name: string
  description: string | null
  pattern: string
  incremental: number
  next_run: string
  last_run: string | null
  created: string
  updated: string
}

/** An execution with its backup's state (deleted or not: an expired backup still tells the outcome). */
export interface ExecutionRow {
  id: string
  schedule_id: string
  tenant_id: string
  instance_id: string
  scheduled_at: string
  started: string
  /** RUNNING until its backup ends; SUCCESS or ERROR after. */
  state: string
  backup_id: string | null
  error: string | null
  backup_state: string | null
}

/** What retention looks at: the live backups of instances that have automated ones. */
export interface RetentionBackupRow {
  id: string
  tenant_id: string
  instance_id: string
  parent_id: string | null
  state: string
  automated: number
  created: string
}

/** The retention settings of an instance, deleted or not. */
export interface RetentionInstanceRow {
  id: string
  deleted: number
  deleted_at: string | null
  backup_retention_days: number
  backup_retention_count: number | null
}

const EXEC = `SELECT e.*, b.state AS backup_state FROM backup_executions e LEFT JOIN backups b ON b.id = e.backup_id`

/** Statements of the schedule, execution and retention queries. */
export class BackupSchedules {
  private readonly st: StatementCache

  constructor(private readonly db: DB) {
    this.st = new StatementCache(db)
  }

  insert(row: Omit<ScheduleRow, 'last_run' | 'updated'>): void {
    this.st
      .get(`INSERT INTO backup_schedules (id, tenant_id, instance_id, name, description, pattern, incremental, next_run, created, updated)
      VALUES (@id, @tenant_id, @instance_id, @name, @description, @pattern, @incremental, @next_run, @created, @created)`)
      .run(row)
  }

  get(id: string): ScheduleRow | undefined {
    return this.st.get('SELECT * FROM backup_schedules WHERE id = ?').get(id) as ScheduleRow | undefined
  }

  listForInstance(instanceId: string): ScheduleRow[] {
    return this.st.get('SELECT * FROM backup_schedules WHERE instance_id = ? ORDER BY created, id').all(instanceId) as ScheduleRow[]
  }

  /** Schedules due at `now` (next_run at or before it), oldest due first. */
  due(now: string): ScheduleRow[] {
    return this.st.get('SELECT * FROM backup_schedules WHERE next_run <= ? ORDER BY next_run, id').all(now) as ScheduleRow[]
  }

  /** The earliest next_run of all schedules (the loop sleeps until then). */
  earliest(): string | undefined {
    return this.st.pluck('SELECT min(next_run) FROM backup_schedules').get() as string | undefined
  }

  setRun(id: string, lastRun: string, nextRun: string, now: string): void {
    this.st.get('UPDATE backup_schedules SET last_run = ?, next_run = ?, updated = ? WHERE id = ?').run(lastRun, nextRun, now, id)
  }

  /** Deletes a schedule and its executions (the backups stay). */
  delete(id: string): void {
    this.db.transaction(() => {
      this.st.get('DELETE FROM backup_executions WHERE schedule_id = ?').run(id)
      this.st.get('DELETE FROM backup_schedules WHERE id = ?').run(id)
    })()
  }

  /** Schedules of instances that are deleted (their schedules go with them). */
  ofDeletedInstances(): string[] {
    return this.st.pluck('SELECT s.id FROM backup_schedules s JOIN instances i ON i.id = s.instance_id WHERE i.deleted = 1').all() as string[]
  }

  insertExecution(row: Omit<ExecutionRow, 'backup_state' | 'backup_id' | 'error'>): void {
    this.st
      .get(`INSERT INTO backup_executions (id, schedule_id, tenant_id, instance_id, scheduled_at, started, state)
      VALUES (@id, @schedule_id, @tenant_id, @instance_id, @scheduled_at, @started, @state)`)
      .run(row)
  }

  /** The execution started its backup (RUNNING), or failed to (ERROR with the reason). */
  setExecution(id: string, fields: { state: string; backup_id?: string | null; error?: string | null }): void {
    this.st.get('UPDATE backup_executions SET state = @state, backup_id = COALESCE(@backup_id, backup_id), error = @error WHERE id = @id').run({
      id,
      state: fields.state,
      backup_id: fields.backup_id ?? null,
      error: fields.error ?? null,
    })
  }

  getExecution(id: string): ExecutionRow | undefined {
    return this.st.get(`${EXEC} WHERE e.id = ?`).get(id) as ExecutionRow | undefined
  }

  /** A schedule's executions, newest first. */
  executions(scheduleId: string): ExecutionRow[] {
    return this.st.get(`${EXEC} WHERE e.schedule_id = ? ORDER BY e.started DESC, e.rowid DESC`).all(scheduleId) as ExecutionRow[]
  }

  /** Every execution of a project's schedules, newest first (Mistral's execution list). */
  executionsOfTenant(tenantId: string | undefined): ExecutionRow[] {
    return this.st.get(`${EXEC} WHERE (@t IS NULL OR e.tenant_id = @t) ORDER BY e.started DESC, e.rowid DESC`).all({ t: tenantId ?? null }) as ExecutionRow[]
  }

  /** Every schedule of a project (Mistral's cron trigger list). */
  ofTenant(tenantId: string | undefined): ScheduleRow[] {
    return this.st.get('SELECT * FROM backup_schedules WHERE (@t IS NULL OR tenant_id = @t) ORDER BY created, id').all({ t: tenantId ?? null }) as ScheduleRow[]
  }

  deleteExecution(id: string): void {
    this.st.get('DELETE FROM backup_executions WHERE id = ?').run(id)
  }

  /** Executions a previous run left without a backup (it stopped between the two writes). */
  orphanExecutions(): string[] {
    return this.st.pluck("SELECT id FROM backup_executions WHERE state = 'RUNNING' AND backup_id IS NULL").all() as string[]
  }

  /** Instances (deleted or not) with live automated backups, and their retention. */
  retentionInstances(): RetentionInstanceRow[] {
    return this.st
      .get(`SELECT i.id, i.deleted, i.deleted_at, i.backup_retention_days, i.backup_retention_count FROM instances i
      WHERE EXISTS (SELECT 1 FROM backups b WHERE b.instance_id = i.id AND b.deleted = 0 AND b.automated = 1)`)
      .all() as RetentionInstanceRow[]
  }

  /** Every live backup of an instance, oldest first (the chain rule needs the manual ones too). */
  liveBackups(instanceId: string): RetentionBackupRow[] {
    return this.st
      .get('SELECT id, tenant_id, instance_id, parent_id, state, automated, created FROM backups WHERE instance_id = ? AND deleted = 0 ORDER BY created, rowid')
      .all(instanceId) as RetentionBackupRow[]
  }

  /** An instance's retention, deleted or not. */
  retentionOf(instanceId: string): RetentionInstanceRow | undefined {
    return this.st.get('SELECT id, deleted, deleted_at, backup_retention_days, backup_retention_count FROM instances WHERE id = ?').get(instanceId) as RetentionInstanceRow | undefined
  }

  setRetention(instanceId: string, days: number, count: number | null): void {
    this.st.get('UPDATE instances SET backup_retention_days = ?, backup_retention_count = ? WHERE id = ?').run(days, count, instanceId)
  }
}

/** The schedules repository of a database (one per DB). */
export const scheduleStore = repository((db: DB) => new BackupSchedules(db))
