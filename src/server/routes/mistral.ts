import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { Lab } from '../lab.js'
import { scheduleStore, type ExecutionRow, type ScheduleRow } from '../db/backup-schedules.js'
import { unauthorized } from '../http/keystone-errors.js'
import { caller } from '../http/guard.js'
import { rateLimitHook } from '../http/rate-limit.js'
import { badRequest, notFound } from '../errors.js'
import { createSchedule, executionState, loadExecution, loadSchedule } from '../backups/schedules.js'

/** The one workflow these cron triggers run: what python-troveclient's schedule_create names. */
const WORKFLOW = 'trove.backup_create'
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** Mistral's time form ("2026-12-05 11:00:00"). */
const mistralTime = (iso: string | null) => (iso ? iso.replace('T', ' ') : null)

/** The workflow input of a schedule, as the legacy client wrote it (its execution list compares them). */
const inputOf = (s: Pick<ScheduleRow, 'instance_id' | 'name' | 'description' | 'incremental'>) =>
  JSON.stringify({ instance: s.instance_id, name: s.name, description: s.description, incremental: s.incremental === 1 })

function cronTriggerView(s: ScheduleRow): Record<string, unknown> {
  return {
    id: s.id,
    name: s.id,
    pattern: s.pattern,
    workflow_name: WORKFLOW,
    workflow_id: WORKFLOW,
    workflow_input: inputOf(s),
    workflow_params: '{}',
    scope: 'private',
    first_execution_time: null,
    next_execution_time: mistralTime(s.next_run),
    remaining_executions: null,
    project_id: s.tenant_id,
    created_at: mistralTime(s.created),
    updated_at: mistralTime(s.updated),
  }
}

function executionView(e: ExecutionRow, s: ScheduleRow): Record<string, unknown> {
  const state = executionState(e)
  return {
    id: e.id,
    workflow_name: WORKFLOW,
    workflow_id: WORKFLOW,
    workflow_namespace: '',
    description: `backup schedule ${s.id}`,
    input: inputOf(s),
    output: JSON.stringify(e.backup_id ? { backup_id: e.backup_id } : { error: e.error }),
    params: '{}',
    state,
    state_info: e.error,
    project_id: e.tenant_id,
    task_execution_id: null,
    root_execution_id: null,
    created_at: mistralTime(e.started),
    updated_at: mistralTime(e.started),
  }
}

/**
 * The subset of Mistral's v2 API (catalog type `workflowv2`) that python-troveclient's
 * legacy schedule commands call (v1/backups.py: schedule_create, schedule_list,
 * schedule_show, schedule_delete, execution_list, execution_delete), served from the
 * lab's own schedules: a cron trigger is a schedule (named by its id), an execution is
 * one of its runs. Only the `trove.backup_create` workflow exists; anything else is a
 * 400. Faults are Mistral's (`faultstring`), which mistralclient reads.
 */
export async function mistralRoutes(app: FastifyInstance, { lab }: { lab: Lab }): Promise<void> {
  const store = scheduleStore(lab.db)
  app.addHook('preHandler', async (req, reply) => {
    const token = req.headers['x-auth-token']
    const ctx = lab.identity.validate(typeof token === 'string' ? token : undefined)
    if (!ctx?.project) return unauthorized(reply)
    req.auth = ctx
  })
  app.addHook('preHandler', rateLimitHook(lab.rateLimiter))
  app.addHook('onSend', async (_req, reply, payload) => {
    if (reply.statusCode < 400 || typeof payload !== 'string') return payload
    try {
      const body = JSON.parse(payload) as Record<string, { message?: string }>
      const [name, fault] = Object.entries(body)[0] ?? []
      // Keystone's 401 body (`error`) stays: keystonemiddleware answers it in front of Mistral too.
      if (name !== 'error' && fault && typeof fault.message === 'string')
        return JSON.stringify({ faultstring: fault.message, faultcode: reply.statusCode < 500 ? 'Client' : 'Server', debuginfo: null })
    } catch {
      /* not a fault body */
    }
    return payload
  })
  const who = (req: FastifyRequest) => caller(req)
  const own = (req: FastifyRequest) => (who(req).isAdmin && (req.query as { all_projects?: string }).all_projects ? undefined : who(req).projectId)

  app.post('/cron_triggers', async (req, reply) => {
    const b = (req.body ?? {}) as Record<string, unknown>
    if (b.workflow_name !== WORKFLOW && b.workflow_id !== WORKFLOW) throw badRequest(`Workflow not found: this lab runs only the ${WORKFLOW} workflow.`)
    if (typeof b.name !== 'string' || !UUID.test(b.name)) throw badRequest(`Invalid cron trigger name ${JSON.stringify(b.name)}: this lab names cron triggers by UUID.`)
    if ((b.first_execution_time ?? null) !== null || (b.remaining_executions ?? null) !== null)
      throw badRequest('first_execution_time and remaining_executions are not supported: a backup schedule runs by its pattern until deleted.')
    let input: Record<string, unknown>
    try {
      input = JSON.parse(typeof b.workflow_input === 'string' ? b.workflow_input : '{}') as Record<string, unknown>
    } catch {
      throw badRequest('Invalid workflow_input: it is a JSON object.')
    }
    if (typeof input.instance !== 'string') throw badRequest("Invalid workflow_input: 'instance' (an instance id) is required.")
    const s = createSchedule(
      lab,
      who(req),
      input.instance,
      { name: input.name, pattern: b.pattern, description: input.description, incremental: input.incremental ?? false },
      lab.scheduler.now(),
      b.name.toLowerCase(),
    )
    lab.scheduler.wake()
    return reply.code(201).send(cronTriggerView(s))
  })
  app.get('/cron_triggers', async (req) => ({ cron_triggers: store.ofTenant(own(req)).map(cronTriggerView) }))
  app.get('/cron_triggers/:name', async (req) => cronTriggerView(loadSchedule(lab, who(req), (req.params as { name: string }).name)))
  app.delete('/cron_triggers/:name', async (req, reply) => {
    const s = loadSchedule(lab, who(req), (req.params as { name: string }).name)
    store.delete(s.id)
    lab.scheduler.wake()
    return reply.code(204).send()
  })

  // Newest first; `marker` is the id of the last execution of the previous page, `limit` the page size.
  app.get('/executions', async (req) => {
    const q = req.query as { marker?: string; limit?: string; workflow_name?: string }
    let rows = store.executionsOfTenant(own(req))
    if (q.marker) {
      const at = rows.findIndex((e) => e.id === q.marker)
      if (at < 0) throw notFound(`Execution not found [id=${q.marker}]`)
      rows = rows.slice(at + 1)
    }
    const limit = q.limit ? Number(q.limit) : 100
    if (!Number.isInteger(limit) || limit < 1) throw badRequest(`Invalid limit '${q.limit}'.`)
    const schedules = new Map<string, ScheduleRow | undefined>()
    const out: Record<string, unknown>[] = []
    for (const e of rows.slice(0, limit)) {
      if (!schedules.has(e.schedule_id)) schedules.set(e.schedule_id, store.get(e.schedule_id))
      const s = schedules.get(e.schedule_id)
      if (s) out.push(executionView(e, s))
    }
    return { executions: out }
  })
  app.get('/executions/:id', async (req) => {
    const e = loadExecution(lab, who(req), (req.params as { id: string }).id)
    const s = store.get(e.schedule_id)
    if (!s) throw notFound(`Execution not found [id=${e.id}]`)
    return executionView(e, s)
  })
  app.delete('/executions/:id', async (req, reply) => {
    store.deleteExecution(loadExecution(lab, who(req), (req.params as { id: string }).id).id)
    return reply.code(204).send()
  })
}
