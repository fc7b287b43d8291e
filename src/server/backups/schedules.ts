import { randomUUID } from 'node:crypto'
import { Cron } from 'croner'
import type { Lab } from '../lab.js'
import { scheduleStore, type ExecutionRow, type ScheduleRow } from '../db/backup-schedules.js'
import { isoNow } from '../db/index.js'
import { Fault, badRequest, notFound } from '../errors.js'
import { loadInstance, type Requester } from '../instances/load.js'
import { BACKUP_MANAGERS, INCREMENTAL_MANAGERS } from './lifecycle.js'

/**
 * The next run of a cron pattern after `from` (UTC), or null when it never runs again.
 * croner, not cron-parser: it has no dependencies (cron-parser pulls in luxon), parses
 * and computes next runs from any date without starting a timer (`paused`), takes a
 * time zone, and is typed; the scheduler keeps its own clock and timer.
 */
export function nextRun(pattern: string, from: Date): Date | null {
  return new Cron(pattern, { paused: true, timezone: 'Etc/UTC' }).nextRun(from)
}

/**
 * A schedule's pattern: five fields (minute hour day-of-month month day-of-week, UTC, as
 * Mistral's cron triggers take them) or a nickname (@hourly, @daily, ...), that runs again.
 * Throws a 400 naming the value and what is allowed.
 */
export function checkPattern(pattern: unknown, now: Date): string {
  const help = "a schedule has five fields, minute hour day-of-month month day-of-week (UTC), e.g. '0 3 * * *', or @hourly, @daily, @weekly, @monthly, @yearly"
  if (typeof pattern !== 'string' || !pattern.trim()) throw badRequest(`Invalid schedule pattern: ${help}.`)
  const p = pattern.trim().replace(/\s+/g, ' ')
  if (!p.startsWith('@') && p.split(' ').length !== 5) throw badRequest(`Invalid schedule pattern '${p}': ${help}.`)
  let next: Date | null
  try {
    next = nextRun(p, now)
  } catch (e) {
    throw badRequest(`Invalid schedule pattern '${p}': ${(e as Error).message.replace(/^CronPattern: /, '')}; ${help}.`)
  }
  if (!next) throw badRequest(`Invalid schedule pattern '${p}': it never runs.`)
  return p
}

/** Body of POST /instances/{id}/schedules (the `schedule` object). */
export interface ScheduleCreateBody {
  name?: unknown
  pattern?: unknown
  description?: unknown
  incremental?: unknown
}

/** Creates a schedule of an instance the caller can see; everything checked before the row is written. */
export function createSchedule(lab: Lab, who: Requester, instanceId: string, body: ScheduleCreateBody, now: Date, id: string = randomUUID()): ScheduleRow {
  const inst = loadInstance(lab, who, instanceId)
  if (typeof body.name !== 'string' || !/[0-9a-zA-Z]/.test(body.name) || body.name.length > 255)
    throw badRequest("Invalid schedule name: 'name' must be a string of 1 to 255 characters with a letter or digit.")
  if (body.description !== undefined && body.description !== null && (typeof body.description !== 'string' || body.description.length > 255))
    throw badRequest("Invalid schedule description: 'description' must be a string of at most 255 characters.")
  if (body.incremental !== undefined && body.incremental !== null && typeof body.incremental !== 'boolean' && body.incremental !== 0 && body.incremental !== 1)
    throw badRequest(`Invalid value for 'incremental': ${JSON.stringify(body.incremental)} (true or false).`)
  const pattern = checkPattern(body.pattern, now)
  const manager = inst.dsv_manager ?? ''
  const incremental = body.incremental === true || body.incremental === 1
  if (!BACKUP_MANAGERS.has(manager)) throw badRequest(`Backups are not supported for the '${inst.ds_name ?? manager}' datastore: it cannot have a backup schedule.`)
  if (incremental && !INCREMENTAL_MANAGERS.has(manager)) throw badRequest(`Incremental backups are not supported by datastore ${inst.ds_name ?? manager}: schedule full backups instead.`)
  if (scheduleStore(lab.db).get(id)) throw new Fault('conflict', `Backup schedule ${id} already exists.`)
  const row: ScheduleRow = {
    id,
    tenant_id: inst.tenant_id,
    instance_id: inst.id,
    name: body.name,
    description: typeof body.description === 'string' ? body.description : null,
    pattern,
    incremental: incremental ? 1 : 0,
    next_run: isoNow(nextRun(pattern, now) ?? now),
    last_run: null,
    created: isoNow(now),
    updated: isoNow(now),
  }
  scheduleStore(lab.db).insert(row)
  lab.log(`backup schedule ${row.id} of instance ${inst.id} created ('${pattern}', ${incremental ? 'incremental' : 'full'})`)
  return row
}

/** A schedule the caller can see (its project's, or any for an admin), of `instanceId` when given; else 404. */
export function loadSchedule(lab: Lab, who: Requester, id: string, instanceId?: string): ScheduleRow {
  const s = scheduleStore(lab.db).get(id)
  if (!s || (s.tenant_id !== who.projectId && !who.isAdmin) || (instanceId !== undefined && s.instance_id !== instanceId)) throw notFound(`Backup schedule ${id} cannot be found.`)
  return s
}

/** An execution the caller can see; else 404. */
export function loadExecution(lab: Lab, who: Requester, id: string, scheduleId?: string): ExecutionRow {
  const e = scheduleStore(lab.db).getExecution(id)
  if (!e || (e.tenant_id !== who.projectId && !who.isAdmin) || (scheduleId !== undefined && e.schedule_id !== scheduleId)) throw notFound(`Backup schedule execution ${id} cannot be found.`)
  return e
}

/** The API view of a schedule. */
export function scheduleView(s: ScheduleRow): Record<string, unknown> {
  return {
    id: s.id,
    name: s.name,
    description: s.description,
    instance_id: s.instance_id,
    pattern: s.pattern,
    incremental: s.incremental === 1,
    next_run: s.next_run,
    last_run: s.last_run,
    created: s.created,
    updated: s.updated,
    project_id: s.tenant_id,
  }
}

/** An execution's outcome: its backup's, once it has one (SUCCESS when COMPLETED, ERROR when it failed). */
export function executionState(e: ExecutionRow): string {
  if (!e.backup_id) return e.state
  if (e.backup_state === 'COMPLETED' || e.backup_state === 'RESTORED') return 'SUCCESS'
  if (e.backup_state === 'FAILED' || e.backup_state === 'DELETE_FAILED' || e.backup_state === null) return 'ERROR'
  return 'RUNNING'
}

/** The API view of an execution. */
export function executionView(e: ExecutionRow): Record<string, unknown> {
  const state = executionState(e)
  return {
    id: e.id,
    schedule_id: e.schedule_id,
    instance_id: e.instance_id,
    scheduled_at: e.scheduled_at,
    created: e.started,
    state,
    backup_id: e.backup_id,
    message: e.error ?? (state === 'ERROR' && e.backup_id ? `Backup ${e.backup_id} failed.` : null),
  }
}
