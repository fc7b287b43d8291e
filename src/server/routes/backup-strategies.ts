import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { Lab } from '../lab.js'
import { isoNow } from '../db/index.js'
import { type StrategyRow, backupStrategies } from '../db/backup-strategies.js'
import { caller } from '../http/guard.js'
import { Fault } from '../errors.js'
import { compileBodySchema, nonEmptyString, uuid } from '../http/validation.js'
import { loadInstance } from '../instances/load.js'

/** Upstream's backup_strategy.create schema: no extra keys. */
const checkCreate = compileBodySchema({
  type: 'object',
  required: ['backup_strategy'],
  properties: {
    backup_strategy: {
      type: 'object',
      required: ['swift_container'],
      additionalProperties: false,
      properties: { swift_container: nonEmptyString, instance_id: uuid },
    },
  },
})

/** Strategy, in upstream's key order (sample backup-strategy-create-response.json). */
const view = (s: StrategyRow) => ({ project_id: s.tenant_id, instance_id: s.instance_id, backend: s.backend, swift_container: s.swift_container })

/**
 * The project a list or delete is about: `project_id` in the query, the caller's by
 * default; another project only for an admin (upstream TroveOperationAuthError, 403).
 */
function targetProject(req: FastifyRequest): { project: string; instanceId: string | undefined } {
  const { projectId, isAdmin } = caller(req)
  const q = req.query as { project_id?: string; instance_id?: string }
  const project = q.project_id || projectId
  if (project !== projectId && !isAdmin) throw new Fault('forbidden', `Operation not allowed for tenant ${projectId}.`)
  return { project, instanceId: q.instance_id }
}

/** Routes 42-44 (api.md 6.13). The strategies are recorded; backups read them once they exist. */
export async function backupStrategyRoutes(app: FastifyInstance, { lab }: { lab: Lab }): Promise<void> {
  app.get('/backup_strategies', async (req) => {
    const { project, instanceId } = targetProject(req)
    // As upstream: without instance_id, every strategy of the project (project-wide and per instance).
    const rows = backupStrategies(lab.db).list(project, instanceId || null)
    return { backup_strategies: rows.map(view) }
  })

  // Creates or replaces the strategy of (project, instance); '' = the whole project.
  app.post('/backup_strategies', async (req, reply) => {
    const { projectId } = caller(req)
    checkCreate(req.body)
    const b = (req.body as { backup_strategy: { swift_container: string; instance_id?: string } }).backup_strategy
    // Upstream records any instance id; here it must be an instance the caller can see.
    if (b.instance_id) loadInstance(lab, caller(req), b.instance_id)
    const row = backupStrategies(lab.db).put(projectId, b.instance_id ?? '', b.swift_container, isoNow())
    return reply.code(202).send({ backup_strategy: view(row) })
  })

  // Deleting what is not there is not an error (upstream).
  app.delete('/backup_strategies', async (req, reply) => {
    const { project, instanceId } = targetProject(req)
    backupStrategies(lab.db).delete(project, instanceId ?? '')
    return reply.code(202).send()
  })
}
