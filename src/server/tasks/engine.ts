import { randomUUID } from 'node:crypto'
import type { DB } from '../db/index.js'
import { isoNow } from '../db/index.js'
import { setTimeout as sleep } from 'node:timers/promises'

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

/**
 * Fault injection for the chaos tests: TROVE_TEST_CRASH_AT=<kind>:<step> (several
 * separated by commas; `*` matches any kind) makes the server SIGKILL itself right
 * after recording that step, as a power cut would. Does nothing when unset.
 */
function crashPoint(kind: string, step: string): void {
  const spec = process.env.TROVE_TEST_CRASH_AT
  if (!spec) return
  if (spec.split(',').some((p) => p === `${kind}:${step}` || p === `*:${step}`)) process.kill(process.pid, 'SIGKILL')
}

/** A finished task keeps no secrets: passwords in its payload (users, root) are masked. */
function scrubSecrets(payload: string): string {
  if (!/password/i.test(payload)) return payload
  try {
    return JSON.stringify(JSON.parse(payload), (k, v: unknown) => (/password/i.test(k) && typeof v === 'string' ? '***' : v))
  } catch {
    return '{}'
  }
}

/** A flow: `run` starts a new task; `resume` picks one up after a server restart. */
export interface FlowHandler {
  readonly kind: string
  run(task: TaskRow): Promise<void>
}

/**
 * The task engine (upstream's taskmanager, in-process). A task is a row whose step
 * is written before the step is taken; handlers make every step idempotent, so
 * resuming a task simply runs it again from its recorded step. A handler that
 * throws marks its task failed (the handler has already put the instance in a
 * clear state, usually ERROR with a fault).
 */
export class TaskEngine {
  private readonly handlers = new Map<string, FlowHandler>()
  private readonly inflight = new Set<Promise<void>>()
  private closed = false

  constructor(
    private readonly db: DB,
    private readonly log: (m: string) => void,
  ) {}

  register(h: FlowHandler): void {
    this.handlers.set(h.kind, h)
  }

  /** Records a new task and starts it in the background. */
  submit(kind: string, instanceId: string, payload: Record<string, unknown> = {}, firstStep = 'start'): TaskRow {
    const now = isoNow()
    const task: TaskRow = { id: randomUUID(), instance_id: instanceId, kind, state: 'running', step: firstStep, payload: JSON.stringify(payload), error: null, created: now, updated: now }
    this.db
      .prepare('INSERT INTO tasks (id, instance_id, kind, state, step, payload, created, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
      .run(task.id, task.instance_id, task.kind, task.state, task.step, task.payload, task.created, task.updated)
    crashPoint(kind, firstStep)
    this.start(task)
    return task
  }

  /** Records the step about to be taken. */
  step(task: TaskRow, step: string): void {
    task.step = step
    this.db.prepare('UPDATE tasks SET step = ?, updated = ? WHERE id = ?').run(step, isoNow(), task.id)
    crashPoint(task.kind, step)
  }

  finish(task: TaskRow, state: 'done' | 'failed', error?: string): void {
    task.state = state
    task.payload = scrubSecrets(task.payload)
    this.db.prepare('UPDATE tasks SET state = ?, error = ?, payload = ?, updated = ? WHERE id = ?').run(state, error ?? null, task.payload, isoNow(), task.id)
  }

  running(instanceId: string, kind?: string): TaskRow | undefined {
    return this.db
      .prepare(`SELECT * FROM tasks WHERE instance_id = ? AND state = 'running' ${kind ? 'AND kind = ?' : ''} ORDER BY created DESC LIMIT 1`)
      .get(...(kind ? [instanceId, kind] : [instanceId])) as TaskRow | undefined
  }

  private start(task: TaskRow): void {
    const h = this.handlers.get(task.kind)
    if (!h) {
      this.finish(task, 'failed', `no handler for ${task.kind}`)
      return
    }
    const p = h.run(task).then(
      () => {
        if (task.state === 'running') this.finish(task, 'done')
      },
      (e: Error) => {
        if (this.closed) return // shutting down mid-flow: resumed at next start
        this.log(`task ${task.kind} ${task.id} for instance ${task.instance_id} failed: ${e.message}`)
        if (task.state === 'running') this.finish(task, 'failed', e.message)
      },
    )
    this.inflight.add(p)
    void p.finally(() => this.inflight.delete(p))
  }

  /** Resumes every task a previous run left unfinished. */
  resumeAll(): number {
    const rows = this.db.prepare("SELECT * FROM tasks WHERE state = 'running' ORDER BY created").all() as TaskRow[]
    for (const t of rows) {
      t.resumed = true
      this.log(`resuming task ${t.kind} for instance ${t.instance_id} at step ${t.step}`)
      this.start(t)
    }
    return rows.length
  }

  get isClosed(): boolean {
    return this.closed
  }

  /** Stops accepting work; running flows stop at their next await and resume at next start. */
  async close(): Promise<void> {
    this.closed = true
    await Promise.race([Promise.allSettled([...this.inflight]), sleep(2000)])
  }
}
