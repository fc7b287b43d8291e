import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { Lab } from '../../lab.js'
import { caller } from '../../http/guard.js'
import { badRequest } from '../../errors.js'
import { compileBodySchema, nonEmptyString, uuid, volumeSize } from '../../http/validation.js'
import { baseUrl } from '../../http/server.js'
import { instanceView, type VolumeUsage } from '../../http/views.js'
import { MAX_WAIT_S, WAIT_HEADER, waitForChange } from '../../http/wait.js'
import { accessSchema } from '../../instances/access.js'
import { loadInstance } from '../../instances/load.js'
import { instanceStatus } from '../../instances/status.js'
import { createInstance, deleteInstance, type CreateBody } from '../../instances/lifecycle.js'
import { createReplicas } from '../../instances/replicas.js'
import { createAutoFailover } from '../../ha/flag.js'
import { refuseSyncAtCreate } from '../../ha/sync.js'
import { haChanged } from '../../ha/monitor.js'

/** Upstream's instance.create schema (apischema.py), the parts a lab can honour. */
const checkCreate = compileBodySchema({
  type: 'object',
  required: ['instance'],
  properties: {
    instance: {
      type: 'object',
      required: ['name'],
      properties: {
        name: nonEmptyString,
        flavorRef: { oneOf: [nonEmptyString, { type: 'integer' }] },
        volume: {
          type: 'object',
          required: ['size'],
          properties: {
            size: volumeSize,
            type: { oneOf: [nonEmptyString, { type: 'null' }] },
          },
        },
        datastore: { type: 'object', properties: { type: nonEmptyString, version: nonEmptyString, version_number: nonEmptyString } },
        databases: {
          type: 'array',
          items: { type: 'object', required: ['name'], properties: { name: nonEmptyString, character_set: nonEmptyString, collate: nonEmptyString } },
        },
        users: {
          type: 'array',
          items: {
            type: 'object',
            required: ['name', 'password'],
            properties: {
              name: nonEmptyString,
              password: nonEmptyString,
              host: nonEmptyString,
              databases: { type: 'array', uniqueItems: true, items: { type: 'object', required: ['name'], properties: { name: nonEmptyString } } },
            },
          },
        },
        // instanceRef + restoreTime | latest: the lab's point-in-time restore (instances/restore-to-time.ts).
        restorePoint: {
          type: 'object',
          properties: { backupRef: uuid, instanceRef: uuid, restoreTime: nonEmptyString, latest: { type: 'boolean' } },
        },
        replica_of: uuid,
        replica_count: { type: 'integer', minimum: 1, maximum: 3 },
        // Lab extension (docs/ha.md): with replica_of, the source's set fails over by itself.
        auto_failover: {},
        // Lab extension (docs/ha.md): refused at create, with a hint (ha/sync.ts).
        sync_replication: {},
        availability_zone: nonEmptyString,
        nics: { type: 'array', maxItems: 1, items: { type: 'object' } },
        configuration: { oneOf: [nonEmptyString, { type: 'null' }] },
        modules: { type: 'array', items: { type: 'object', required: ['id'], properties: { id: uuid } } },
        locality: { enum: ['affinity', 'anti-affinity', 'soft-affinity', 'soft-anti-affinity'] },
        region_name: nonEmptyString,
        access: accessSchema,
      },
    },
  },
})

const NO_USAGE_STATUSES = new Set(['BUILD', 'REBOOT', 'RESIZE', 'PROMOTE', 'EJECT', 'UPGRADE', 'SHUTDOWN'])

export async function instanceRoutes(app: FastifyInstance, { lab }: { lab: Lab }): Promise<void> {
  const list = (detail: boolean) => async (req: FastifyRequest) => {
    const { projectId, isAdmin } = caller(req)
    const q = req.query as { limit?: string; marker?: string }
    const requested = q.limit !== undefined ? Number.parseInt(q.limit, 10) : lab.config.pageSize
    if (!Number.isFinite(requested) || requested < 0) throw badRequest(`Invalid limit '${q.limit}'.`)
    const limit = Math.min(requested || lab.config.pageSize, lab.config.pageSize)
    const rows = lab.instances.listForTenant(projectId, q.marker ?? '', limit + 1, detail)
    const page = rows.slice(0, limit)
    // Upstream pages by id, then shows each page newest first.
    page.sort((a, b) => (a.created < b.created ? 1 : a.created > b.created ? -1 : 0))
    const body: Record<string, unknown> = { instances: page.map((i) => instanceView(req, i, lab, { detail, admin: isAdmin })) }
    if (rows.length > limit) {
      const url = new URL(`${baseUrl(req)}${req.url}`)
      url.searchParams.set('limit', String(limit))
      url.searchParams.set('marker', rows[limit - 1].id)
      body.links = [{ rel: 'next', href: url.toString() }]
    }
    return body
  }
  app.get('/instances', list(false))
  app.get('/instances/detail', list(true))

  app.get('/instances/:id', async (req, reply) => {
    const { id } = req.params as { id: string }
    let inst = loadInstance(lab, caller(req), id)
    reply.header(WAIT_HEADER, String(MAX_WAIT_S))
    const q = req.query as { wait_for_change?: string; wait_timeout?: string }
    if (q.wait_for_change !== undefined) inst = await waitForChange(lab, reply, inst, q)
    let usage: VolumeUsage | undefined
    // What the agent sent with its last heartbeat while as fresh as its own cache (1 s), else a call.
    const pushed = NO_USAGE_STATUSES.has(instanceStatus(inst)) ? undefined : lab.instances.recentUsage(inst.id, 1000)
    if (pushed || (!NO_USAGE_STATUSES.has(instanceStatus(inst)) && lab.compute.agentAlive(inst.id))) {
      try {
        const fs = pushed ?? (await lab.rpc.call(inst.id, 'get_filesystem_stats', {}, 3000))
        usage = { used: Math.round(fs.used * 100) / 100, used_percent: fs.total > 0 ? Math.round((fs.used / fs.total) * 10000) / 100 : 0 }
      } catch {
        /* upstream omits usage when the guest does not answer */
      }
    }
    return { instance: instanceView(req, inst, lab, { detail: true, admin: caller(req).isAdmin, usage }) }
  })

  app.post('/instances', async (req, reply) => {
    const who = caller(req)
    checkCreate(req.body)
    const body = (req.body as { instance: CreateBody }).instance
    // Replication (instances/replicas.ts): a replica copies flavor, volume and datastore from its source.
    const replica = body.replica_of !== undefined && body.replica_of !== null
    const autoFailover = createAutoFailover(body.auto_failover, replica)
    refuseSyncAtCreate(body.sync_replication)
    const id = replica ? await createReplicas(lab, req, who, body) : await createInstance(lab, req, who, body)
    if (autoFailover) {
      lab.instances.setAutoFailover(String(body.replica_of), true)
      haChanged(lab)
    }
    // The long poll offered on the create's answer too, so a --wait can start with one (no GET first).
    reply.header(WAIT_HEADER, String(MAX_WAIT_S))
    return { instance: instanceView(req, lab.instances.get(id)!, lab, { detail: true, admin: who.isAdmin }) }
  })

  app.delete('/instances/:id', async (req, reply) => {
    const { id } = req.params as { id: string }
    deleteInstance(lab, req, loadInstance(lab, caller(req), id))
    return reply.code(202).send()
  })
}
