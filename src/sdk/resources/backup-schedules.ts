import type { Transport } from '../transport.js'

/** A backup schedule of an instance (trove lab extension; upstream keeps schedules in Mistral). */
export interface BackupSchedule {
  id: string
  name: string
  description: string | null
  instance_id: string
  /** Five-field cron pattern (UTC) or a nickname such as @daily. */
  pattern: string
  incremental: boolean
  /** Naive UTC times ("2026-12-05T11:00:00"). */
  next_run: string
  last_run: string | null
  created: string
  updated: string
  project_id: string
  [extra: string]: unknown
}

/** One run of a schedule: its backup, or why there is none. */
export interface BackupExecution {
  id: string
  schedule_id: string
  instance_id: string
  scheduled_at: string
  created: string
  /** RUNNING, SUCCESS or ERROR. */
  state: string
  backup_id: string | null
  message: string | null
  [extra: string]: unknown
}

/** Body of `POST /instances/{id}/schedules` (the `schedule` object). */
export interface BackupScheduleCreate {
  name: string
  pattern: string
  description?: string
  incremental?: boolean
}

const enc = encodeURIComponent

/** Backup schedules and their executions: `/instances/{id}/schedules`, `/schedules/{id}`, `/executions/{id}`. */
export class BackupSchedules {
  constructor(private readonly client: Transport) {}

  /** POST /instances/{id}/schedules. */
  async create(instanceId: string, body: BackupScheduleCreate): Promise<BackupSchedule> {
    return (await this.client.request<{ schedule: BackupSchedule }>('POST', `/instances/${enc(instanceId)}/schedules`, { body: { schedule: body } })).body.schedule
  }

  /** GET /instances/{id}/schedules. */
  async list(instanceId: string): Promise<BackupSchedule[]> {
    return (await this.client.request<{ schedules: BackupSchedule[] }>('GET', `/instances/${enc(instanceId)}/schedules`)).body.schedules
  }

  /** GET /schedules/{id}. */
  async get(id: string): Promise<BackupSchedule> {
    return (await this.client.request<{ schedule: BackupSchedule }>('GET', `/schedules/${enc(id)}`)).body.schedule
  }

  /** DELETE /schedules/{id} (its executions go with it; its backups stay). */
  async delete(id: string): Promise<void> {
    await this.client.request('DELETE', `/schedules/${enc(id)}`)
  }

  /** GET /schedules/{id}/executions, newest first. */
  async executions(id: string): Promise<BackupExecution[]> {
    return (await this.client.request<{ executions: BackupExecution[] }>('GET', `/schedules/${enc(id)}/executions`)).body.executions
  }

  /** DELETE /executions/{id} (the record only; its backup stays). */
  async deleteExecution(id: string): Promise<void> {
    await this.client.request('DELETE', `/executions/${enc(id)}`)
  }
}
