import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { Lab } from '../lab.js'
import { ModuleContentsCipher } from '../modules/contents.js'
import { caller } from '../http/guard.js'
import { badRequest } from '../errors.js'
import { compileBodySchema, nonEmptyString } from '../http/validation.js'
import { loadInstance } from '../instances/load.js'
import { baseUrl } from '../http/server.js'
import { instanceView } from '../http/views.js'
import { RPC_TIMEOUT } from '../broker/rpc.js'
import { guestCallWith as guestCall } from '../instances/guest.js'
import {
  appliedGroups,
  appliedModules,
  forgetApplied,
  guestModulePayload,
  instancesWithModule,
  isApplied,
  loadModulesByIds,
  recordInstanceModules,
  runReapply,
  validateModulesFor,
} from '../modules/apply.js'
import {
  ALL,
  countApplied,
  createModule,
  deleteModule,
  listModules,
  loadModule,
  moduleNames,
  recordReapply,
  updateModule,
  withNames,
  type ModuleFields,
  type ModuleNamed,
  type ReapplyFields,
} from '../modules/catalogue.js'

const booleanString = { type: 'integer', minimum: 0, maximum: 1 } as const
const moduleContents = { type: 'string', minLength: 1, maxLength: 16777215, pattern: '^.*.+.*$' } as const
const datastoreRef = { type: 'object', properties: { type: nonEmptyString, version: nonEmptyString } } as const

/** Upstream's module schemas (apischema.py module.create / module.update). */
const checkCreate = compileBodySchema({
  type: 'object',
  required: ['module'],
  properties: {
    module: {
      type: 'object',
      required: ['name', 'module_type', 'contents'],
      properties: {
        name: nonEmptyString,
        module_type: nonEmptyString,
        contents: moduleContents,
        description: nonEmptyString,
        datastore: datastoreRef,
        auto_apply: booleanString,
        all_tenants: booleanString,
        visible: booleanString,
        live_update: booleanString,
        priority_apply: booleanString,
        apply_order: { type: 'integer', minimum: 0, maximum: 9 },
        full_access: booleanString,
      },
    },
  },
})
const checkUpdate = compileBodySchema({
  type: 'object',
  required: ['module'],
  properties: {
    module: {
      type: 'object',
      properties: {
        name: nonEmptyString,
        module_type: nonEmptyString,
        type: nonEmptyString,
        contents: moduleContents,
        description: nonEmptyString,
        datastore: datastoreRef,
        all_tenants: booleanString,
        all_datastores: booleanString,
        all_datastore_versions: booleanString,
        auto_apply: booleanString,
        visible: booleanString,
        live_update: booleanString,
        priority_apply: booleanString,
        apply_order: { type: 'integer', minimum: 0, maximum: 9 },
        full_access: booleanString,
      },
    },
  },
})
// Upstream has no schema for reapply; these are the types its task manager uses.
const checkReapply = compileBodySchema({
  type: 'object',
  required: ['reapply'],
  properties: {
    reapply: {
      type: 'object',
      properties: {
        md5: { type: 'string', pattern: '^[0-9a-fA-F]{32}$' },
        include_clustered: { type: ['integer', 'boolean'] },
        force: { type: ['integer', 'boolean'] },
        batch_size: { type: 'integer', minimum: 1 },
        batch_delay: { type: 'integer', minimum: 0 },
      },
    },
  },
})

/** Routes 73-79 (api.md 6.20) and the instance module routes 17-19 (6.7). */
export async function moduleRoutes(app: FastifyInstance, { lab }: { lab: Lab }): Promise<void> {
  const cipher = new ModuleContentsCipher(lab.config.dataDir)

  const viewer = (req: FastifyRequest) => {
    const { projectId, isAdmin } = caller(req)
    return { projectId, isAdmin }
  }
  const load = (req: FastifyRequest, id: string) => loadModule(lab, viewer(req), id)

  /** ModuleView, in upstream's key order. */
  const view = (m: ModuleNamed) => ({
    id: m.id,
    name: m.name,
    type: m.type,
    description: m.description,
    tenant_id: m.tenant_id,
    datastore_id: m.datastore_id,
    datastore_version_id: m.datastore_version_id,
    auto_apply: m.auto_apply === 1,
    priority_apply: m.priority_apply === 1,
    apply_order: m.apply_order,
    is_admin: m.is_admin === 1,
    md5: m.md5,
    visible: m.visible === 1,
    created: m.created,
    updated: m.updated,
    tenant: m.tenant_id ?? ALL,
    ...moduleNames(m),
  })
  const detailView = (m: ModuleNamed, instanceCount?: number) => ({
    ...view(m),
    live_update: m.live_update === 1,
    ...(instanceCount === undefined ? {} : { instance_count: instanceCount }),
  })

  app.get('/modules', async (req) => {
    const { datastore } = req.query as { datastore?: string }
    return { modules: listModules(lab, viewer(req), datastore).map(view) }
  })

  app.post('/modules', async (req) => {
    checkCreate(req.body)
    const m = createModule(lab, cipher, viewer(req), (req.body as { module: ModuleFields }).module)
    return { module: detailView(withNames(lab, m)) }
  })

  app.get('/modules/:id', async (req) => {
    const m = load(req, (req.params as { id: string }).id)
    return { module: detailView(withNames(lab, m), countApplied(lab, m)) }
  })

  app.put('/modules/:id', async (req) => {
    checkUpdate(req.body)
    const m = updateModule(lab, cipher, viewer(req), (req.params as { id: string }).id, (req.body as { module: ModuleFields }).module)
    return { module: detailView(withNames(lab, m)) }
  })

  app.delete('/modules/:id', async (req, reply) => {
    deleteModule(lab, viewer(req), (req.params as { id: string }).id)
    return reply.code(200).send()
  })

  app.get('/modules/:id/instances', async (req) => {
    const { projectId, isAdmin } = caller(req)
    const m = load(req, (req.params as { id: string }).id)
    const q = req.query as { count_only?: string; limit?: string; marker?: string }
    // A member sees only its own project's instances, even for a global module.
    const tenant = isAdmin ? null : projectId
    if ((q.count_only ?? '').toLowerCase() === 'true') {
      const groups = appliedGroups(lab, m.id, tenant)
      return {
        instances: groups.map((g) => ({
          module_name: m.name,
          module_id: m.id,
          module_md5: g.md5,
          instance_count: g.n,
          current: g.md5 === m.md5,
          min_updated_date: g.min_updated,
          max_updated_date: g.max_updated,
        })),
      }
    }
    const requested = q.limit !== undefined ? Number.parseInt(q.limit, 10) : lab.config.pageSize
    if (!Number.isFinite(requested) || requested < 0) throw badRequest(`Invalid limit '${q.limit}'.`)
    const limit = Math.min(requested || lab.config.pageSize, lab.config.pageSize)
    const ids = instancesWithModule(lab, m.id, tenant, q.marker ?? '', limit + 1)
    const page = ids
      .slice(0, limit)
      .map((id) => lab.instances.get(id)!)
      .filter(Boolean)
    page.sort((a, b) => (a.created < b.created ? 1 : a.created > b.created ? -1 : 0))
    const body: Record<string, unknown> = { instances: page.map((i) => instanceView(req, i, lab, { detail: false, admin: isAdmin })) }
    if (ids.length > limit) {
      const url = new URL(`${baseUrl(req)}${req.url}`)
      url.searchParams.set('limit', String(limit))
      url.searchParams.set('marker', ids[limit - 1])
      body.links = [{ rel: 'next', href: url.toString() }]
    }
    return body
  })

  // Reapply: the request is recorded and run in the background (modules/apply.ts runReapply), answered 202.
  app.put('/modules/:id/instances', async (req, reply) => {
    checkReapply(req.body)
    const m = load(req, (req.params as { id: string }).id)
    const r = (req.body as { reapply: ReapplyFields }).reapply
    const requestId = recordReapply(lab, viewer(req), m, r)
    // Upstream casts reapply_module to the task manager; here it runs in the background.
    setImmediate(() => void runReapply(lab, requestId).catch((e: Error) => lab.log(`module ${m.id}: reapply failed: ${e.message}`)))
    return reply.code(202).send()
  })

  // Instance modules (6.7): the server's record of what was applied, or (from_guest) the guest's.
  app.get('/instances/:id/modules', async (req) => {
    const inst = loadInstance(lab, caller(req), (req.params as { id: string }).id)
    const q = req.query as { include_contents?: string; from_guest?: string }
    if (q.from_guest) {
      const modules = await guestCall(lab, inst.id, 'module_list', { include_contents: !!q.include_contents }, RPC_TIMEOUT.high)
      return { modules }
    }
    const rows = appliedModules(lab, inst.id)
    return {
      modules: rows.map((m) => ({
        id: m.id,
        name: m.name,
        type: m.type,
        ...moduleNames(m),
        tenant: m.tenant_id ?? ALL,
        auto_apply: m.auto_apply === 1,
        visible: m.visible === 1,
        is_admin: m.is_admin === 1,
        md5: m.applied_md5,
        created: m.applied_created,
        updated: m.applied_updated,
        ...(q.include_contents ? { contents: cipher.decrypt(m.contents) } : {}),
      })),
    }
  })

  /** Upstream's module_apply: unknown or foreign ids skipped, a datastore mismatch 400, the guest applies them. */
  app.post('/instances/:id/modules', async (req) => {
    const { projectId, isAdmin } = caller(req)
    const inst = loadInstance(lab, caller(req), (req.params as { id: string }).id)
    const body = req.body as { modules?: unknown } | undefined
    if (!body || typeof body !== 'object' || !Array.isArray(body.modules)) throw badRequest("Validation error: 'modules' is a required property")
    const ids = body.modules.map((m) => (m && typeof m === 'object' ? (m as { id?: unknown }).id : undefined)).filter((x): x is string => typeof x === 'string')
    const modules = loadModulesByIds(lab, ids, projectId, isAdmin)
    validateModulesFor(lab, modules, inst.datastore_version_id ?? '')
    if (!modules.length) return { modules: [] }
    const results = await guestCall(lab, inst.id, 'module_apply', { modules: guestModulePayload(lab, modules) }, RPC_TIMEOUT.high)
    recordInstanceModules(lab, inst.id, modules)
    return { modules: results }
  })

  /** Upstream's module_remove: the guest undoes each applied copy, then the records go. */
  app.delete('/instances/:id/modules/:module_id', async (req, reply) => {
    const { id, module_id: moduleId } = req.params as { id: string; module_id: string }
    const inst = loadInstance(lab, caller(req), id)
    const m = load(req, moduleId)
    if (isApplied(lab, inst.id, m.id)) {
      await guestCall(lab, inst.id, 'module_remove', { module: guestModulePayload(lab, [m])[0] }, RPC_TIMEOUT.high)
      forgetApplied(lab, inst.id, m.id)
    }
    return reply.code(200).send()
  })
}
