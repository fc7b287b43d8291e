import { randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { DB } from '../db/index.js'
import { isoNow } from '../db/index.js'
import { Tasks, type TaskRow } from '../db/tasks.js'
import { setTimeout as sleep } from 'node:timers/promises'

export type { TaskRow } from '../db/tasks.js'

/**
 * Fault injection for the chaos tests: TROVE_TEST_CRASH_AT=<kind>:<step> (several
 * separated by commas; `*` matches any kind) makes the server SIGKILL itself right
 * after recording that step, as a power cut would. Does nothing when unset.
 * TROVE_TEST_CRASH_AT=@FILE reads the points from FILE at each step (none while it is
 * empty or missing): a test arms the server that runs instead of starting another one
 * for each kill (a server start costs ~2.5 s of CPU).
 */
function crashPoint(kind: string, step: string): void {
  let spec = process.env.TROVE_TEST_CRASH_AT
  if (spec?.startsWith('@')) {
    try {
      spec = readFileSync(spec.slice(1), 'utf8').trim()
    } catch {
      return
    }
  }
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

  private readonly rows: Tasks

  constructor(
    db: DB,
    private readonly log: (m: string) => void,
  ) {
    this.rows = new Tasks(db)
  }

  register(h: FlowHandler): void {
    this.handlers.set(h.kind, h)
  }

  /** Records a new task and starts it in the background. */
  submit(kind: string, instanceId: string, payload: Record<string, unknown> = {}, firstStep = 'start'): TaskRow {
    const now = isoNow()
    const task: TaskRow = { id: randomUUID(), instance_id: instanceId, kind, state: 'running', step: firstStep, payload: JSON.stringify(payload), error: null, created: now, updated: now }
    this.rows.insert(task)
    crashPoint(kind, firstStep)
    this.start(task)
    return task
  }

  /** Records the step about to be taken. */
  step(task: TaskRow, step: string): void {
    task.step = step
    this.rows.setStep(task.id, step, isoNow())
    crashPoint(task.kind, step)
  }

  finish(task: TaskRow, state: 'done' | 'failed', error?: string): void {
    task.state = state
    task.error = error ?? null
    task.payload = scrubSecrets(task.payload)
    this.rows.finish(task.id, state, error ?? null, task.payload, isoNow())
  }

  running(instanceId: string, kind?: string): TaskRow | undefined {
    return this.rows.running(instanceId, kind)
  }

  /** Every running task (the reconciler's "driven" instances). */
  allRunning(): TaskRow[] {
    return this.rows.allRunning()
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
    const rows = this.rows.allRunning()
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
    // The wait's timer ends with it (left running, it held a stopping server's event loop for its 2 s).
    const waited = new AbortController()
    await Promise.race([Promise.allSettled([...this.inflight]), sleep(2000, undefined, { signal: waited.signal }).catch(() => undefined)])
    waited.abort()
  }
}
