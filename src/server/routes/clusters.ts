import type { FastifyInstance } from 'fastify'
import type { Lab } from '../lab.js'
import { datastores } from '../db/datastores.js'
import { caller, requireAdmin } from '../http/guard.js'
import { Fault, badRequest, notFound } from '../errors.js'
import { compileBodySchema, nonEmptyString, uuid, volumeSize } from '../http/validation.js'
import { resolveDatastoreVersion } from '../datastores/resolve.js'

const nodeType = { oneOf: [nonEmptyString, { type: 'array', items: nonEmptyString }] } as const
const clusterInstance = {
  type: 'object',
  required: ['flavorRef'],
  properties: {
    flavorRef: { oneOf: [nonEmptyString, { type: 'integer' }] },
    volume: { type: 'object', required: ['size'], properties: { size: volumeSize, type: { oneOf: [nonEmptyString, { type: 'null' }] } } },
    nics: { type: 'array', items: { type: 'object' } },
    availability_zone: nonEmptyString,
    modules: { type: 'array', items: { type: 'object', required: ['id'], properties: { id: uuid } } },
    region_name: nonEmptyString,
    type: nodeType,
    related_to: nonEmptyString,
    name: nonEmptyString,
  },
} as const

/** Upstream's cluster.create schema (apischema.py). */
const checkCreate = compileBodySchema({
  type: 'object',
  required: ['cluster'],
  properties: {
    cluster: {
      type: 'object',
      required: ['datastore', 'instances', 'name'],
      properties: {
        name: nonEmptyString,
        datastore: { type: 'object', required: ['type', 'version'], properties: { type: nonEmptyString, version: nonEmptyString } },
        instances: { type: 'array', items: clusterInstance },
        locality: nonEmptyString,
        extended_properties: {
          type: 'object',
          properties: {
            num_configsvr: { type: 'integer' },
            num_mongos: { type: 'integer' },
            configsvr_volume_size: { type: 'integer' },
            configsvr_volume_type: nonEmptyString,
            mongos_volume_size: { type: 'integer' },
            mongos_volume_type: nonEmptyString,
          },
        },
        configuration: uuid,
      },
    },
  },
})

/** Upstream's cluster action schema: exactly one action, each with its own body. */
const checkAction = compileBodySchema({
  type: 'object',
  minProperties: 1,
  maxProperties: 1,
  properties: {
    grow: { type: 'array', minItems: 1, items: clusterInstance },
    shrink: { type: 'array', minItems: 1, items: { type: 'object', required: ['id'], properties: { id: uuid } } },
    'reset-status': { type: 'object' },
    restart: { type: 'object' },
    upgrade: { type: 'object', required: ['datastore_version'], properties: { datastore_version: nonEmptyString } },
    configuration_attach: { type: 'object', required: ['configuration_id'], properties: { configuration_id: uuid } },
    configuration_detach: { type: 'object' },
    add_shard: { type: 'object' },
  },
})

const ACTIONS = ['grow', 'shrink', 'reset-status', 'restart', 'upgrade', 'configuration_attach', 'configuration_detach', 'add_shard']

/** Upstream's ClusterNotFound: this lab has no clusters, so every id is unknown. */
const clusterNotFound = (id: string) => notFound(`Cluster '${id}' cannot be found.`)

/**
 * Routes 36-37, 67-72 (api.md 6.19, 6.11) and mgmt 88-90 (7.4). No datastore of this
 * lab supports clusters (upstream's per-manager cluster_support is false for all of
 * them), so lists are empty, creating answers upstream's ClusterDatastoreNotSupported
 * (501) once the body and datastore are valid, and every cluster id is unknown.
 */
export async function clusterRoutes(app: FastifyInstance, { lab }: { lab: Lab }): Promise<void> {
  const id = (p: unknown) => (p as { id: string }).id

  app.get('/clusters', async (req) => {
    caller(req)
    return { clusters: [] }
  })

  app.post('/clusters', async (req) => {
    caller(req)
    checkCreate(req.body)
    const c = (req.body as { cluster: { datastore: { type: string; version: string }; instances: unknown[]; locality?: string } }).cluster
    if (c.locality !== undefined && !['affinity', 'anti-affinity'].includes(c.locality)) {
      throw badRequest(`Locality '${c.locality}' is not supported. Valid values are: affinity, anti-affinity.`)
    }
    const version = resolveDatastoreVersion(lab, c.datastore)
    const ds = datastores(lab.db).nameOf(version.datastore_id) as string
    throw new Fault('notImplemented', `Clusters are not supported for datastore ${ds}.`)
  })

  app.get('/clusters/:id', async (req) => {
    caller(req)
    throw clusterNotFound(id(req.params))
  })
  app.delete('/clusters/:id', async (req) => {
    caller(req)
    throw clusterNotFound(id(req.params))
  })

  app.post('/clusters/:id', async (req) => {
    caller(req)
    checkAction(req.body)
    const key = Object.keys(req.body as object)[0]
    if (!ACTIONS.includes(key)) throw badRequest(`Action '${key}' not supported`)
    throw clusterNotFound(id(req.params))
  })

  app.get('/clusters/:cid/instances/:iid', async (req) => {
    caller(req)
    throw clusterNotFound((req.params as { cid: string }).cid)
  })

  app.get('/clusters/:cid/root', async (req) => {
    caller(req)
    throw clusterNotFound((req.params as { cid: string }).cid)
  })
  app.post('/clusters/:cid/root', async (req) => {
    caller(req)
    throw clusterNotFound((req.params as { cid: string }).cid)
  })

  app.get('/mgmt/clusters', async (req) => {
    requireAdmin(req)
    return { clusters: [] }
  })

  app.get('/mgmt/clusters/:id', async (req) => {
    requireAdmin(req)
    throw clusterNotFound(id(req.params))
  })

  app.post('/mgmt/clusters/:id/action', async (req) => {
    requireAdmin(req)
    const body = req.body
    if (!body || typeof body !== 'object' || Array.isArray(body) || Object.keys(body).length === 0) throw badRequest('Invalid request body.')
    const keys = Object.keys(body)
    if (keys.length !== 1) throw badRequest('Action request should have exactly one action specified in body')
    if (keys[0] !== 'reset-task') throw badRequest(`Invalid cluster action requested: ${keys[0]}`)
    throw clusterNotFound(id(req.params))
  })
}
