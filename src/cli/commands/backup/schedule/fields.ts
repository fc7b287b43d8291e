import type { BackupExecution, BackupSchedule } from '../../../../sdk/index.js'

/** `backup schedule list` columns (the legacy client's id, name, pattern and next run, and more). */
export const SCHEDULE_COLUMNS = ['ID', 'Name', 'Pattern', 'Incremental', 'Next Run', 'Last Run']

export function scheduleRow(s: BackupSchedule): unknown[] {
  return [s.id, s.name, s.pattern, s.incremental, s.next_run, s.last_run]
}

/** `backup schedule show` and `create` fields. */
export function scheduleFields(s: BackupSchedule): { kind: 'show'; fields: Record<string, unknown> } {
  return { kind: 'show', fields: { ...s } }
}

/** `backup execution list` columns (the legacy client's id, execution time and state, with the outcome). */
export const EXECUTION_COLUMNS = ['ID', 'Execution Time', 'State', 'Backup ID', 'Message']

export function executionRow(e: BackupExecution): unknown[] {
  return [e.id, e.created, e.state, e.backup_id, e.message]
}
