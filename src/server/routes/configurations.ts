import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { Lab } from '../lab.js'
import { configurationStore, type ConfigurationJoined, type ConfigurationValueRow, type DatastoreParameters } from '../db/configurations.js'
import { checkValues, maskValues, readValue } from '../configurations/values.js'
import { caller } from '../http/guard.js'
import { badRequest, notFound } from '../errors.js'
import { compileBodySchema, nonEmptyString } from '../http/validation.js'
import { baseUrl } from '../http/server.js'
import { datastoreNameOf, groupVersion } from '../datastores/resolve.js'
import { sendJson } from '../http/json-literal.js'
import { updateGroupEverywhere } from '../configurations/attach.js'
import { checkEngineValues } from '../configurations/engine-values.js'

/** Upstream's configuration schemas (apischema.py: create, update, edit). */
const checkCreate = compileBodySchema({
  type: 'object',
  required: ['configuration'],
  properties: {
    configuration: {
      type: 'object',
      required: ['values', 'name'],
      properties: {
        description: nonEmptyString,
        values: { type: 'object' },
        name: nonEmptyString,
        datastore: { type: 'object', properties: { type: nonEmptyString, version: nonEmptyString, version_number: nonEmptyString } },
      },
    },
  },
})
const checkUpdate = compileBodySchema({
  type: 'object',
  required: ['configuration'],
  properties: { configuration: { type: 'object', properties: { description: nonEmptyString, values: { type: 'object' }, name: nonEmptyString } } },
})
const checkEdit = compileBodySchema({
  type: 'object',
  required: ['configuration'],
  properties: { configuration: { type: 'object', properties: { values: { type: 'object' }, name: nonEmptyString, description: nonEmptyString } } },
})

interface GroupBody {
  configuration: {
    name?: string
    description?: string
    values?: Record<string, unknown>
    datastore?: { type?: string; version?: string; version_number?: string }
  }
}

/** The group `id` as the caller may see it: its own project's, or any for an admin (upstream). */
export function loadConfiguration(lab: Lab, req: FastifyRequest, id: string): ConfigurationJoined {
  const { projectId, isAdmin } = caller(req)
  const g = configurationStore(lab.db).groups.get(id)
  if (!g || (g.tenant_id !== projectId && !isAdmin)) throw notFound(`Configuration group with ID ${id} could not be found.`)
  return g
}

/** Upstream's limit/marker for id-paged collections: at most the page size (api.md 3). */
function paging(lab: Lab, req: FastifyRequest): { limit: number; marker: string } {
  const q = req.query as { limit?: string; marker?: string }
  const requested = q.limit !== undefined ? Number.parseInt(q.limit, 10) : lab.config.pageSize
  // Upstream's int() fails with a 500 here.
  if (!Number.isFinite(requested) || requested < 0) throw badRequest(`Invalid limit '${q.limit}'.`)
  return { limit: Math.min(requested || lab.config.pageSize, lab.config.pageSize), marker: q.marker ?? '' }
}

function nextLinks(req: FastifyRequest, limit: number, last: string) {
  const url = new URL(`${baseUrl(req)}${req.url}`)
  url.searchParams.set('limit', String(limit))
  url.searchParams.set('marker', last)
  return [{ rel: 'next', href: url.toString() }]
}

/** ConfigSummary, in upstream's key order (transcript 30). */
function summaryView(g: ConfigurationJoined) {
  return {
    id: g.id,
    name: g.name,
    description: g.description,
    created: g.created,
    updated: g.updated,
    datastore_version_id: g.datastore_version_id,
    datastore_name: g.ds_name,
    datastore_version_name: g.dsv_name,
  }
}

/** ConfigDetail, in upstream's key order (transcript 29, 31). */
function detailView(g: ConfigurationJoined, values: Record<string, unknown>, instanceCount: number) {
  return {
    id: g.id,
    name: g.name,
    description: g.description,
    values,
    created: g.created,
    updated: g.updated,
    instance_count: instanceCount,
    datastore_name: g.ds_name,
    datastore_version_id: g.datastore_version_id,
    datastore_version_name: g.dsv_name,
    datastore_version_number: g.dsv_version,
  }
}

/** Stored values, typed by the version's parameters (upstream's load_items) and masked. */
function typedValues(parameters: DatastoreParameters, versionId: string, rows: ConfigurationValueRow[]): Record<string, unknown> {
  const rules = new Map(parameters.list(versionId).map((p) => [p.name, p]))
  return maskValues(rows.map((r) => [r.configuration_key, readValue(r.configuration_value, rules.get(r.configuration_key))]))
}

/** Routes 45-51 (api.md 6.14). Attaching a group to an instance is PUT /instances/{id}. */
export async function configurationRoutes(app: FastifyInstance, { lab }: { lab: Lab }): Promise<void> {
  const { groups, parameters } = configurationStore(lab.db)

  app.get('/configurations', async (req) => {
    const { projectId, isAdmin } = caller(req)
    const { limit, marker } = paging(lab, req)
    // Admins list every project's groups (upstream's Configurations.load).
    const rows = groups.list(isAdmin ? null : projectId, marker, limit + 1)
    const body: Record<string, unknown> = { configurations: rows.slice(0, limit).map(summaryView) }
    if (rows.length > limit) body.links = nextLinks(req, limit, rows[limit - 1].id)
    return body
  })

  /** Upstream's validation, then what the guest or the engine would refuse (engine-values.ts). */
  const validValues = (values: Record<string, unknown>, versionId: string, manager: string, version: { datastore: string; name: string }): Array<[string, string]> => {
    const rules = parameters.list(versionId)
    const stored = checkValues(values, rules, version)
    checkEngineValues(manager, stored, new Map(rules.map((r) => [r.name, r.data_type])))
    return stored
  }

  app.post('/configurations', async (req, reply) => {
    const { projectId } = caller(req)
    checkCreate(req.body)
    const body = (req.body as GroupBody).configuration
    const version = groupVersion(lab, body.datastore)
    const stored = validValues(body.values ?? {}, version.id, version.manager, { datastore: datastoreNameOf(lab, version), name: version.name })
    const id = groups.create({ name: body.name!, description: body.description ?? null, tenant_id: projectId, datastore_version_id: version.id }, stored)
    lab.notifications.sync(req, 'configuration_create', { name: body.name, datastore: datastoreNameOf(lab, version), datastore_version: version.name }, { configuration_id: id })
    // The values in the order given (upstream shows the request's dict), typed as a show would.
    const values = typedValues(
      parameters,
      version.id,
      stored.map(([k, v]) => ({ configuration_key: k, configuration_value: v })),
    )
    return sendJson(reply, 200, { configuration: detailView(groups.get(id)!, values, 0) })
  })

  app.get('/configurations/:id', async (req, reply) => {
    const g = loadConfiguration(lab, req, (req.params as { id: string }).id)
    return sendJson(reply, 200, { configuration: detailView(g, typedValues(parameters, g.datastore_version_id, groups.values(g.id)), groups.countInstancesUsing(g.id)) })
  })

  app.get('/configurations/:id/instances', async (req) => {
    const g = loadConfiguration(lab, req, (req.params as { id: string }).id)
    const { limit, marker } = paging(lab, req)
    const rows = groups.instancesUsing(g.id, marker, limit + 1)
    const body: Record<string, unknown> = { instances: rows.slice(0, limit).map((i) => ({ id: i.id, name: i.name })) }
    if (rows.length > limit) body.links = nextLinks(req, limit, rows[limit - 1].id)
    return body
  })

  // PUT replaces everything: values absent from the body are removed (as upstream does).
  // Instances using the group get its new values through the attach flow
  // (update_overrides, then apply_overrides when all are dynamic), as upstream; all or
  // nothing (updateGroupEverywhere): a refusal is the answer, the group stays as it was.
  app.put('/configurations/:id', async (req, reply) => {
    checkUpdate(req.body)
    const g = loadConfiguration(lab, req, (req.params as { id: string }).id)
    const body = (req.body as GroupBody).configuration
    const stored = validValues(body.values ?? {}, g.datastore_version_id, g.dsv_manager, { datastore: g.ds_name, name: g.dsv_name })
    const name = body.name ?? g.name
    const description = 'description' in body ? (body.description ?? null) : g.description
    await updateGroupEverywhere(lab, g, stored, () => groups.replace(g.id, { name, description }, stored))
    lab.notifications.sync(req, 'configuration_update', { configuration_id: g.id, name, description })
    return reply.code(202).send()
  })

  // PATCH merges: the given values are added or overwritten, the others stay. Unlike
  // upstream (which ignores them silently), a name or description sent is applied.
  // The merged values are what is checked: the whole group must be one the engine takes.
  app.patch('/configurations/:id', async (req, reply) => {
    checkEdit(req.body)
    const g = loadConfiguration(lab, req, (req.params as { id: string }).id)
    const body = (req.body as GroupBody).configuration
    const given = validValues(body.values ?? {}, g.datastore_version_id, g.dsv_manager, { datastore: g.ds_name, name: g.dsv_name })
    const merged = new Map(groups.values(g.id).map((v) => [v.configuration_key, v.configuration_value]))
    for (const [k, v] of given) merged.set(k, v)
    const all = [...merged]
    checkEngineValues(g.dsv_manager, all, new Map(parameters.list(g.datastore_version_id).map((r) => [r.name, r.data_type])))
    const name = body.name ?? g.name
    const description = 'description' in body ? (body.description ?? null) : g.description
    await updateGroupEverywhere(lab, g, all, () => groups.replace(g.id, { name, description }, all))
    lab.notifications.sync(req, 'configuration_edit', { configuration_id: g.id })
    return reply.code(200).send()
  })

  app.delete('/configurations/:id', async (req, reply) => {
    const g = loadConfiguration(lab, req, (req.params as { id: string }).id)
    if (groups.countInstancesUsing(g.id) > 0) {
      throw badRequest(
        'A configuration group cannot be deleted if it is associated with one or more non-terminated instances. Detach the configuration group from all non-terminated instances and please try again.',
      )
    }
    groups.delete(g.id)
    lab.notifications.sync(req, 'configuration_delete', { configuration_id: g.id })
    return reply.code(202).send()
  })
}
