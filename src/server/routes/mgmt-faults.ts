import type { FastifyInstance } from 'fastify'
import type { Lab } from '../lab.js'
import { caller, requireAdmin } from '../http/guard.js'
import { Fault, badRequest, notFound, resourceNotFound } from '../errors.js'
import { AFTER, FAULT_KINDS, FaultRefused, isFaultKind } from '../compute/faults.js'

const KINDS = FAULT_KINDS.join(', ')

/**
 * Fault injection (issue 16 item 6, a lab extension; README "Fault injection"):
 * `POST /mgmt/instances/{id}/faults` with `{"fault": {"kind": "kill-engine|kill-agent|pause|partition|heal"}}`
 * answers 200 with what was done and what the lab does next. Admins only: a member gets what every mgmt route
 * answers (upstream's admin_context: 401 `unauthorized`, "User does not have admin privileges.").
 * Each fault is recorded as the notifications `dbaas.instance_fault.start` and `.end` (or `.error`), with
 * the instance, the kind, the user and the time, so a checker or a user can line up the timeline.
 */
export async function mgmtFaultRoutes(app: FastifyInstance, { lab }: { lab: Lab }): Promise<void> {
  app.post('/mgmt/instances/:id/faults', async (req) => {
    requireAdmin(req)
    const c = caller(req)
    const { id } = req.params as { id: string }
    const body = req.body as { fault?: { kind?: unknown } } | null
    const fault = body?.fault
    if (body === null || typeof body !== 'object' || Array.isArray(body) || Object.keys(body).join() !== 'fault' || fault === null || typeof fault !== 'object' || Array.isArray(fault)) {
      throw badRequest(`Invalid request body: expected {"fault": {"kind": KIND}}, KIND one of ${KINDS}.`)
    }
    const kind = fault.kind
    if (!isFaultKind(kind)) throw badRequest(`Invalid fault kind ${JSON.stringify(kind ?? null)}: one of ${KINDS}.`)
    const inst = lab.instances.get(id)
    if (!inst) {
      if (lab.instances.getAny(id)) throw notFound(`Instance ${id} is deleted: no fault can be injected.`)
      throw resourceNotFound(id)
    }
    if (!lab.compute.hasBootstrap(id)) throw new Fault('conflict', `Instance ${id} has no guest yet (it was never launched): no fault can be injected.`)
    const traits = { instance_id: id, kind, user_id: c.ctx.user.id, user_name: c.ctx.user.name }
    const injectedAt = new Date().toISOString()
    const effect = await lab.notifications.action(req, 'instance_fault', id, traits, async () => {
      try {
        return await lab.compute.injectFault(id, kind)
      } catch (e) {
        if (e instanceof FaultRefused) throw e.invalid ? badRequest(e.message) : new Fault('conflict', e.message)
        throw e
      }
    })
    lab.log(`instance ${id}: fault ${kind} injected by ${c.ctx.user.name}: ${effect}`)
    return { fault: { instance_id: id, kind, effect, after: AFTER[kind], injected_at: injectedAt, user_id: c.ctx.user.id } }
  })
}
