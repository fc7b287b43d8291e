import { randomUUID } from 'node:crypto'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { Lab } from '../lab.js'
import { isoNow } from '../db/index.js'
import { ModuleContentsCipher, contentsMd5 } from '../modules/contents.js'
import { caller } from '../http/guard.js'
import { Fault, badRequest, notFound } from '../errors.js'
import { compileBodySchema, nonEmptyString } from '../http/validation.js'
import { findDatastore, resolveDatastoreVersion } from './datastores.js'
import { loadInstance } from './instances/crud.js'
import { baseUrl } from '../http/server.js'
import { instanceView } from '../http/views.js'
import { RPC_TIMEOUT } from '../broker/rpc.js'
import { guestCall } from './logs.js'
import { guestModulePayload, loadModulesByIds, recordInstanceModules, runReapply, validateModulesFor } from '../modules/apply.js'

/** Upstream's config module_types (the guest drivers that exist). */
export const MODULE_TYPES = ['ping', 'new_relic_license']
const ALL = 'all'

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

type Flag = 0 | 1
interface ModuleFields {
  name?: string
  module_type?: string
  type?: string
  contents?: string
  description?: string
  datastore?: { type?: string; version?: string }
  auto_apply?: Flag
  all_tenants?: Flag
  visible?: Flag
  live_update?: Flag
  priority_apply?: Flag
  apply_order?: number
  full_access?: Flag
  all_datastores?: Flag
  all_datastore_versions?: Flag
}

export interface ModuleRow {
  id: string
  name: string
  type: string
  contents: string
  description: string | null
  tenant_id: string | null
  datastore_id: string | null
  datastore_version_id: string | null
  auto_apply: number
  visible: number
  live_update: number
  md5: string
  created: string
  updated: string
  deleted: number
  deleted_at: string | null
  priority_apply: number
  apply_order: number
  is_admin: number
}

/**
 * Upstream's Module.validate_action: the options only an admin may set, as upstream
 * words them ("(Tenant: all, Auto: 1)"); 403 for anyone else, 400 for a full-access
 * module with admin options.
 */
function adminOptions(
  isAdmin: boolean,
  action: string,
  m: { tenant_id: string | null; auto_apply: number; visible: number; priority_apply: number },
  fullAccess: number | undefined,
): string | undefined {
  const opts: string[] = []
  if (m.tenant_id === null) opts.push(`Tenant: ${ALL}`)
  if (m.auto_apply) opts.push(`Auto: ${m.auto_apply}`)
  if (!m.visible) opts.push(`Visible: ${m.visible}`)
  if (m.priority_apply) opts.push(`Priority: ${m.priority_apply}`)
  if (fullAccess !== undefined) {
    if (fullAccess && opts.length) throw badRequest(`The following values are invalid: Cannot make module full access: (${opts.join(', ')})`)
    opts.push(`Full Access: ${fullAccess}`)
  }
  const text = opts.length ? `(${opts.join(', ')})` : undefined
  if (!isAdmin && text) throw new Fault('forbidden', `You must be admin to ${action} a module with these options. ${text}`)
  return text
}

/** Upstream's get_datastore_or_version: ids of the datastore and version named (null = all). */
function datastoreScope(lab: Lab, type: string | null | undefined, version: string | null | undefined): { datastoreId: string | null; versionId: string | null } {
  if (!type) {
    if (version) throw badRequest('Cannot specify version without datastore')
    return { datastoreId: null, versionId: null }
  }
  if (version) {
    const v = resolveDatastoreVersion(lab, { type, version })
    return { datastoreId: v.datastore_id, versionId: v.id }
  }
  const ds = findDatastore(lab, type)
  if (!ds) throw notFound(`Datastore '${type}' cannot be found.`)
  return { datastoreId: ds.id, versionId: null }
}

/** Routes 73-79 (api.md 6.20) and the instance module routes 17-19 (6.7). */
export async function moduleRoutes(app: FastifyInstance, { lab }: { lab: Lab }): Promise<void> {
  const cipher = new ModuleContentsCipher(lab.config.dataDir)
  const db = lab.db

  const names = (m: ModuleRow) => {
    if (!m.datastore_id) return { datastore: ALL, datastore_version: ALL }
    const ds = db.prepare('SELECT name FROM datastores WHERE id = ?').pluck().get(m.datastore_id) as string | undefined
    const ver = m.datastore_version_id ? (db.prepare('SELECT name FROM datastore_versions WHERE id = ?').pluck().get(m.datastore_version_id) as string | undefined) : ALL
    return { datastore: ds ?? m.datastore_id, datastore_version: ver ?? m.datastore_version_id }
  }

  /** ModuleView, in upstream's key order. */
  const view = (m: ModuleRow) => ({
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
    ...names(m),
  })
  const detailView = (m: ModuleRow, instanceCount?: number) => ({
    ...view(m),
    live_update: m.live_update === 1,
    ...(instanceCount === undefined ? {} : { instance_count: instanceCount }),
  })

  const getRow = (id: string) => db.prepare('SELECT * FROM modules WHERE id = ? AND deleted = 0').get(id) as ModuleRow | undefined

  /** Upstream's Module.load: admins see every module; others their own and the global ones, if visible. */
  const load = (req: FastifyRequest, id: string): ModuleRow => {
    const { projectId, isAdmin } = caller(req)
    const m = getRow(id)
    if (!m || (!isAdmin && (!m.visible || (m.tenant_id !== null && m.tenant_id !== projectId)))) throw notFound(`Module with ID ${id} could not be found.`)
    return m
  }

  const checkType = (type: string) => {
    if (!MODULE_TYPES.includes(type.toLowerCase())) throw notFound(`Module type '${type}' was not found.`)
    return type.toLowerCase()
  }

  const countApplied = (m: ModuleRow) =>
    db
      .prepare('SELECT COUNT(*) FROM instance_modules im JOIN instances i ON i.id = im.instance_id WHERE im.module_id = ? AND im.md5 = ? AND im.deleted = 0 AND i.deleted = 0')
      .pluck()
      .get(m.id, m.md5) as number

  /** Upstream's enforce_live_update: 403 ModuleAppliedToInstance. */
  const enforceLiveUpdate = (m: ModuleRow) => {
    if (!m.live_update && countApplied(m) > 0) {
      throw new Fault(
        'forbidden',
        "A module cannot be deleted or its contents modified if it has been applied to a non-terminated instance, unless the module has been marked as 'live_update.' Please remove the module from all non-terminated instances and try again.",
      )
    }
  }

  /**
   * Upstream's key_exists, also checked on update (upstream only checks on create, so
   * an update can make two modules with one key). Upstream names the datastore by its
   * id in the message; the names are shown here.
   */
  const refuseDuplicate = (m: Pick<ModuleRow, 'name' | 'type' | 'tenant_id' | 'datastore_id' | 'datastore_version_id'> & { id?: string }) => {
    const dup = db
      .prepare(`SELECT 1 FROM modules WHERE deleted = 0 AND name = ? AND type = ? AND tenant_id IS ? AND datastore_id IS ? AND datastore_version_id IS ? AND id IS NOT ?`)
      .get(m.name, m.type, m.tenant_id, m.datastore_id, m.datastore_version_id, m.id ?? null)
    if (dup) {
      const n = names(m as ModuleRow)
      throw badRequest(`A module with the name '${m.name}' already exists for datastore '${n.datastore}' and datastore version '${n.datastore_version}'`)
    }
  }

  app.get('/modules', async (req) => {
    const { projectId, isAdmin } = caller(req)
    const { datastore } = req.query as { datastore?: string }
    let filter = ''
    const args: unknown[] = []
    // Upstream: "all" lists the modules for every datastore only; a datastore, that datastore's.
    if (datastore && datastore.toLowerCase() === ALL) filter += ' AND datastore_id IS NULL'
    else if (datastore) {
      const ds = findDatastore(lab, datastore)
      if (!ds) throw notFound(`Datastore '${datastore}' cannot be found.`)
      filter += ' AND datastore_id = ?'
      args.push(ds.id)
    }
    if (!isAdmin) {
      filter += ' AND visible = 1 AND (tenant_id = ? OR tenant_id IS NULL)'
      args.push(projectId)
    }
    const rows = db.prepare(`SELECT * FROM modules WHERE deleted = 0${filter} ORDER BY created, rowid`).all(...args) as ModuleRow[]
    return { modules: rows.map(view) }
  })

  app.post('/modules', async (req) => {
    const { projectId, isAdmin } = caller(req)
    checkCreate(req.body)
    const b = (req.body as { module: ModuleFields }).module
    const type = checkType(b.module_type!)
    const row = {
      tenant_id: b.all_tenants ? null : projectId,
      auto_apply: b.auto_apply ?? 0,
      visible: b.visible ?? 1,
      live_update: b.live_update ?? 0,
      priority_apply: b.priority_apply ?? 0,
      apply_order: b.apply_order ?? 5,
    }
    adminOptions(isAdmin, 'create', row, b.full_access)
    const { datastoreId, versionId } = datastoreScope(lab, b.datastore?.type, b.datastore?.version)
    refuseDuplicate({ name: b.name!, type, tenant_id: row.tenant_id, datastore_id: datastoreId, datastore_version_id: versionId })
    const id = randomUUID()
    const now = isoNow()
    db.prepare(`INSERT INTO modules (id, name, type, contents, description, tenant_id, datastore_id, datastore_version_id, auto_apply, visible,
      live_update, md5, created, updated, priority_apply, apply_order, is_admin)
      VALUES (@id, @name, @type, @contents, @description, @tenant_id, @datastore_id, @datastore_version_id, @auto_apply, @visible,
      @live_update, @md5, @now, @now, @priority_apply, @apply_order, @is_admin)`).run({
      id,
      name: b.name,
      type,
      contents: cipher.encrypt(b.contents!),
      description: b.description ?? null,
      ...row,
      datastore_id: datastoreId,
      datastore_version_id: versionId,
      md5: contentsMd5(b.contents!),
      now,
      // Upstream: an admin's module is an admin module (members cannot change it) unless full_access.
      is_admin: b.full_access ? 0 : isAdmin ? 1 : 0,
    })
    lab.log(`module ${id} (${b.name}) created in project ${projectId}`)
    return { module: detailView(getRow(id)!) }
  })

  app.get('/modules/:id', async (req) => {
    const m = load(req, (req.params as { id: string }).id)
    return { module: detailView(m, countApplied(m)) }
  })

  app.put('/modules/:id', async (req) => {
    const { projectId, isAdmin } = caller(req)
    checkUpdate(req.body)
    const original = load(req, (req.params as { id: string }).id)
    const b = (req.body as { module: ModuleFields }).module
    enforceLiveUpdate(original)
    if (original.is_admin && !isAdmin) throw new Fault('forbidden', 'You must be admin to update a module with these options. (Module is an admin module)')
    if (b.all_datastores !== undefined && b.datastore?.type !== undefined) throw badRequest('The module is invalid: You cannot set a datastore and specify --all_datastores')
    if (b.all_datastore_versions !== undefined && b.datastore?.version !== undefined) throw badRequest('The module is invalid: You cannot set a datastore version and specify --all_datastore_versions')
    // The legacy client sends the new type as "type"; upstream reads only "module_type"
    // and silently ignores it (and never checks the type on update). Both are read and checked here.
    const newType = b.module_type ?? b.type
    const m: ModuleRow = {
      ...original,
      name: b.name ?? original.name,
      type: newType !== undefined ? checkType(newType) : original.type,
      description: b.description ?? original.description,
      // Upstream moves a module to the caller's project on all_tenants=0, even an admin
      // editing another project's module; here a module keeps its project, and a
      // global one becomes the caller's.
      tenant_id: b.all_tenants === undefined ? original.tenant_id : b.all_tenants ? null : (original.tenant_id ?? projectId),
      auto_apply: b.auto_apply ?? original.auto_apply,
      visible: b.visible ?? original.visible,
      live_update: b.live_update ?? original.live_update,
      priority_apply: b.priority_apply ?? original.priority_apply,
      apply_order: b.apply_order ?? original.apply_order,
    }
    const options = adminOptions(isAdmin, 'update', m, b.full_access)
    m.is_admin = b.full_access !== undefined ? (b.full_access ? 0 : 1) : original.is_admin || options ? 1 : 0
    // The version stays with its datastore: moving to another datastore (or to all)
    // without naming a version makes the module good for every version of it.
    let scope = { datastoreId: original.datastore_id, versionId: original.datastore_version_id }
    if (b.all_datastores) scope = { datastoreId: null, versionId: null }
    else if (b.datastore?.type !== undefined) {
      const next = datastoreScope(lab, b.datastore.type, b.datastore.version)
      scope = next.datastoreId === original.datastore_id && b.datastore.version === undefined ? { ...next, versionId: original.datastore_version_id } : next
    } else if (b.datastore?.version !== undefined) scope = datastoreScope(lab, original.datastore_id, b.datastore.version)
    if (b.all_datastore_versions) scope.versionId = null
    m.datastore_id = scope.datastoreId
    m.datastore_version_id = scope.versionId
    refuseDuplicate(m)
    if (b.contents !== undefined) {
      const md5 = contentsMd5(b.contents)
      if (md5 !== original.md5) {
        m.md5 = md5
        m.contents = cipher.encrypt(b.contents)
      }
    }
    m.updated = isoNow()
    db.prepare(`UPDATE modules SET name = @name, type = @type, contents = @contents, description = @description, tenant_id = @tenant_id,
      datastore_id = @datastore_id, datastore_version_id = @datastore_version_id, auto_apply = @auto_apply, visible = @visible,
      live_update = @live_update, md5 = @md5, updated = @updated, priority_apply = @priority_apply, apply_order = @apply_order,
      is_admin = @is_admin WHERE id = @id`).run(m)
    return { module: detailView(getRow(m.id)!) }
  })

  app.delete('/modules/:id', async (req, reply) => {
    const { isAdmin } = caller(req)
    const m = load(req, (req.params as { id: string }).id)
    adminOptions(isAdmin, 'delete', m, undefined)
    enforceLiveUpdate(m)
    const now = isoNow()
    db.prepare('UPDATE modules SET deleted = 1, deleted_at = ?, updated = ? WHERE id = ?').run(now, now, m.id)
    return reply.code(200).send()
  })

  app.get('/modules/:id/instances', async (req) => {
    const { projectId, isAdmin } = caller(req)
    const m = load(req, (req.params as { id: string }).id)
    const q = req.query as { count_only?: string; limit?: string; marker?: string }
    // A member sees only its own project's instances, even for a global module.
    const scope = isAdmin ? '' : ' AND i.tenant_id = @tenant'
    if ((q.count_only ?? '').toLowerCase() === 'true') {
      const groups = db
        .prepare(`SELECT im.md5, COUNT(*) AS n, MIN(im.updated) AS min_updated, MAX(im.updated) AS max_updated
        FROM instance_modules im JOIN instances i ON i.id = im.instance_id
        WHERE im.module_id = @module AND im.deleted = 0 AND i.deleted = 0${scope} GROUP BY im.md5 ORDER BY im.md5`)
        .all({ module: m.id, tenant: projectId }) as Array<{ md5: string; n: number; min_updated: string; max_updated: string }>
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
    const ids = db
      .prepare(`SELECT DISTINCT i.id FROM instance_modules im JOIN instances i ON i.id = im.instance_id
      WHERE im.module_id = @module AND im.deleted = 0 AND i.deleted = 0 AND i.id > @marker${scope} ORDER BY i.id LIMIT @limit`)
      .pluck()
      .all({ module: m.id, tenant: projectId, marker: q.marker ?? '', limit: limit + 1 }) as string[]
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
    const { projectId, isAdmin } = caller(req)
    checkReapply(req.body)
    const m = load(req, (req.params as { id: string }).id)
    const r = (req.body as { reapply: { md5?: string; include_clustered?: number | boolean; batch_size?: number; batch_delay?: number; force?: number | boolean } }).reapply
    const requestId = randomUUID()
    db.prepare(`INSERT INTO module_reapply_requests (id, module_id, tenant_id, is_admin, md5, include_clustered, batch_size, batch_delay, force, created)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(
      requestId,
      m.id,
      projectId,
      isAdmin ? 1 : 0,
      r.md5 ?? null,
      r.include_clustered ? 1 : 0,
      r.batch_size ?? null,
      r.batch_delay ?? null,
      r.force ? 1 : 0,
      isoNow(),
    )
    // Upstream casts reapply_module to the task manager; here it runs in the background.
    setImmediate(() => void runReapply(lab, requestId).catch((e: Error) => lab.log(`module ${m.id}: reapply failed: ${e.message}`)))
    return reply.code(202).send()
  })

  // Instance modules (6.7): the server's record of what was applied, or (from_guest) the guest's.
  app.get('/instances/:id/modules', async (req) => {
    const inst = loadInstance(lab, req, (req.params as { id: string }).id)
    const q = req.query as { include_contents?: string; from_guest?: string }
    if (q.from_guest) {
      const modules = await guestCall(lab, inst.id, 'module_list', { include_contents: !!q.include_contents }, RPC_TIMEOUT.high)
      return { modules }
    }
    const rows = db
      .prepare(`SELECT m.*, im.md5 AS applied_md5, im.created AS applied_created, im.updated AS applied_updated
      FROM instance_modules im JOIN modules m ON m.id = im.module_id WHERE im.instance_id = ? AND im.deleted = 0 ORDER BY im.created, im.rowid`)
      .all(inst.id) as Array<ModuleRow & { applied_md5: string; applied_created: string; applied_updated: string }>
    return {
      modules: rows.map((m) => ({
        id: m.id,
        name: m.name,
        type: m.type,
        ...names(m),
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
    const inst = loadInstance(lab, req, (req.params as { id: string }).id)
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
    const inst = loadInstance(lab, req, id)
    const m = load(req, moduleId)
    const applied = db.prepare('SELECT id FROM instance_modules WHERE instance_id = ? AND module_id = ? AND deleted = 0').pluck().all(inst.id, m.id) as string[]
    if (applied.length) {
      await guestCall(lab, inst.id, 'module_remove', { module: guestModulePayload(lab, [m])[0] }, RPC_TIMEOUT.high)
      const now = isoNow()
      db.prepare('UPDATE instance_modules SET deleted = 1, deleted_at = ?, updated = ? WHERE instance_id = ? AND module_id = ? AND deleted = 0').run(now, now, inst.id, m.id)
    }
    return reply.code(200).send()
  })
}
