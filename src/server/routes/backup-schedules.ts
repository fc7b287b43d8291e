import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Lab } from '../lab.js'
import { scheduleStore } from '../db/backup-schedules.js'
import { caller } from '../http/guard.js'
import { badRequest } from '../errors.js'
import { loadInstance } from '../instances/load.js'
import { createSchedule, executionView, loadExecution, loadSchedule, scheduleView, type ScheduleCreateBody } from '../backups/schedules.js'

/**
 * Backup schedules, a lab extension (README "API notes"; upstream keeps them in Mistral):
 * create and list under an instance; show, delete and executions under the instance or
 * by the schedule's id alone (the legacy client's `schedule-show ID` has no instance).
 */
export async function backupScheduleRoutes(app: FastifyInstance, { lab }: { lab: Lab }): Promise<void> {
  const store = scheduleStore(lab.db)
  const params = (req: FastifyRequest) => req.params as { id?: string; sid: string; eid: string }
  const schedule = (req: FastifyRequest) => {
    const { id, sid } = params(req)
    if (id !== undefined) loadInstance(lab, caller(req), id)
    return loadSchedule(lab, caller(req), sid, id)
  }

  app.post('/instances/:id/schedules', async (req) => {
    const { id } = req.params as { id: string }
    const body = req.body as { schedule?: unknown } | undefined
    if (!body || typeof body !== 'object' || !body.schedule || typeof body.schedule !== 'object' || Array.isArray(body.schedule))
      throw badRequest('Invalid request body: it is {"schedule": {"name": ..., "pattern": ...}}.')
    const s = createSchedule(lab, caller(req), id, body.schedule as ScheduleCreateBody, lab.scheduler.now())
    lab.scheduler.wake()
    return { schedule: scheduleView(s) }
  })

  app.get('/instances/:id/schedules', async (req) => {
    const { id } = req.params as { id: string }
    const inst = loadInstance(lab, caller(req), id)
    return { schedules: store.listForInstance(inst.id).map(scheduleView) }
  })

  for (const prefix of ['/instances/:id/schedules', '/schedules']) {
    app.get(`${prefix}/:sid`, async (req) => ({ schedule: scheduleView(schedule(req)) }))
    app.delete(`${prefix}/:sid`, async (req, reply) => {
      const s = schedule(req)
      store.delete(s.id)
      lab.log(`backup schedule ${s.id} of instance ${s.instance_id} deleted`)
      lab.scheduler.wake()
      return reply.code(202).send()
    })
    app.get(`${prefix}/:sid/executions`, async (req) => ({ executions: store.executions(schedule(req).id).map(executionView) }))
  }
  const deleteExecution = (scoped: boolean) => async (req: FastifyRequest, reply: FastifyReply) => {
    const e = loadExecution(lab, caller(req), params(req).eid, scoped ? schedule(req).id : undefined)
    store.deleteExecution(e.id)
    return reply.code(202).send()
  }
  app.delete('/instances/:id/schedules/:sid/executions/:eid', deleteExecution(true))
  app.delete('/executions/:eid', deleteExecution(false))
}
