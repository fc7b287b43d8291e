import type { DB } from './index.js'

export interface TaskRow {
  id: string
  instance_id: string
  kind: string
  state: 'running' | 'done' | 'failed'
  step: string
  payload: string
  error: string | null
  created: string
  updated: string
  /** Set on a task picked up by resumeAll (a previous run died or stopped mid-flow), even at its first step. */
  resumed?: boolean
}

/** Prepared statements for the tasks table (the task engine's journal). */
export class Tasks {
  private readonly s

  constructor(db: DB) {
    this.s = {
      insert: db.prepare('INSERT INTO tasks (id, instance_id, kind, state, step, payload, created, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?)'),
      step: db.prepare('UPDATE tasks SET step = ?, updated = ? WHERE id = ?'),
      finish: db.prepare('UPDATE tasks SET state = ?, error = ?, payload = ?, updated = ? WHERE id = ?'),
      runningOf: db.prepare("SELECT * FROM tasks WHERE instance_id = ? AND state = 'running' ORDER BY created DESC LIMIT 1"),
      runningOfKind: db.prepare("SELECT * FROM tasks WHERE instance_id = ? AND state = 'running' AND kind = ? ORDER BY created DESC LIMIT 1"),
      allRunning: db.prepare("SELECT * FROM tasks WHERE state = 'running' ORDER BY created"),
    }
  }

  insert(t: TaskRow): void {
    this.s.insert.run(t.id, t.instance_id, t.kind, t.state, t.step, t.payload, t.created, t.updated)
  }

  setStep(id: string, step: string, updated: string): void {
    this.s.step.run(step, updated, id)
  }

  finish(id: string, state: TaskRow['state'], error: string | null, payload: string, updated: string): void {
    this.s.finish.run(state, error, payload, updated, id)
  }

  /** The newest running task of an instance (of `kind` when given). */
  running(instanceId: string, kind?: string): TaskRow | undefined {
    return (kind ? this.s.runningOfKind.get(instanceId, kind) : this.s.runningOf.get(instanceId)) as TaskRow | undefined
  }

  /** Every running task, oldest first (resume at start-up, reconcile's "driven" set). */
  allRunning(): TaskRow[] {
    return this.s.allRunning.all() as TaskRow[]
  }
}
