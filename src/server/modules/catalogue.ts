import { randomUUID } from 'node:crypto'
import type { Lab } from '../lab.js'
import { isoNow } from '../db/index.js'
import { instanceModules } from '../db/instance-modules.js'
import { moduleReapplyRequests } from '../db/module-reapply-requests.js'
import { type DatastoreFilter, type ModuleNamed, type ModuleRow, type Viewer, modules } from '../db/modules.js'
import { findDatastore, resolveDatastoreVersion } from '../datastores/resolve.js'
import { Fault, badRequest, notFound } from '../errors.js'
import { type ModuleContentsCipher, contentsMd5 } from './contents.js'

export type { ModuleNamed, ModuleRow, Viewer }

/** Upstream's config module_types (the guest drivers that exist). */
export const MODULE_TYPES = ['ping', 'new_relic_license']
/** Upstream's word for "every project / datastore / version". */
export const ALL = 'all'

type Flag = 0 | 1
/** A module create or update body (the route checks it against upstream's schema first). */
export interface ModuleFields {
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

/** What a reapply asks for (PUT /modules/{id}/instances). */
export interface ReapplyFields {
  md5?: string
  include_clustered?: number | boolean
  batch_size?: number
  batch_delay?: number
  force?: number | boolean
}

/** The datastore and version names a module view shows ("all" for a module of every one). */
export function moduleNames(m: Pick<ModuleNamed, 'datastore_id' | 'datastore_version_id' | 'ds_name' | 'dsv_name'>): { datastore: string; datastore_version: string } {
  if (!m.datastore_id) return { datastore: ALL, datastore_version: ALL }
  const ver = m.datastore_version_id ? (m.dsv_name ?? m.datastore_version_id) : ALL
  return { datastore: m.ds_name ?? m.datastore_id, datastore_version: ver }
}

/** A module row with its names (one query for both). */
export function withNames(lab: Lab, m: ModuleRow): ModuleNamed {
  return { ...m, ...modules(lab.db).names(m.datastore_id, m.datastore_version_id) }
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

function checkType(type: string): string {
  if (!MODULE_TYPES.includes(type.toLowerCase())) throw notFound(`Module type '${type}' was not found.`)
  return type.toLowerCase()
}

/** Upstream's Module.load: admins see every module; others their own and the global ones, if visible. */
export function loadModule(lab: Lab, viewer: Viewer, id: string): ModuleRow {
  const m = modules(lab.db).get(id)
  if (!m || (!viewer.isAdmin && (!m.visible || (m.tenant_id !== null && m.tenant_id !== viewer.projectId)))) throw notFound(`Module with ID ${id} could not be found.`)
  return m
}

/** The modules a viewer lists: of every datastore, of all datastores ("all") only, or of one datastore. */
export function listModules(lab: Lab, viewer: Viewer, datastore: string | undefined): ModuleNamed[] {
  let filter: DatastoreFilter = { kind: 'any' }
  // Upstream: "all" lists the modules for every datastore only; a datastore, that datastore's.
  if (datastore && datastore.toLowerCase() === ALL) filter = { kind: 'all-datastores' }
  else if (datastore) {
    const ds = findDatastore(lab, datastore)
    if (!ds) throw notFound(`Datastore '${datastore}' cannot be found.`)
    filter = { kind: 'datastore', id: ds.id }
  }
  return modules(lab.db).list(filter, viewer)
}

/** Live instances that have the module's current contents. */
export function countApplied(lab: Lab, m: ModuleRow): number {
  return instanceModules(lab.db).countCurrent(m.id, m.md5)
}

/** Upstream's enforce_live_update: 403 ModuleAppliedToInstance. */
function enforceLiveUpdate(lab: Lab, m: ModuleRow): void {
  if (!m.live_update && countApplied(lab, m) > 0) {
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
function refuseDuplicate(lab: Lab, m: Pick<ModuleRow, 'name' | 'type' | 'tenant_id' | 'datastore_id' | 'datastore_version_id'> & { id?: string }): void {
  const repo = modules(lab.db)
  if (repo.isDuplicate(m)) {
    const n = moduleNames({ ...m, ...repo.names(m.datastore_id, m.datastore_version_id) })
    throw badRequest(`A module with the name '${m.name}' already exists for datastore '${n.datastore}' and datastore version '${n.datastore_version}'`)
  }
}

/** Upstream's module create. */
export function createModule(lab: Lab, cipher: ModuleContentsCipher, viewer: Viewer, b: ModuleFields): ModuleRow {
  const { projectId, isAdmin } = viewer
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
  refuseDuplicate(lab, { name: b.name!, type, tenant_id: row.tenant_id, datastore_id: datastoreId, datastore_version_id: versionId })
  const id = randomUUID()
  const now = isoNow()
  modules(lab.db).insert({
    id,
    name: b.name!,
    type,
    contents: cipher.encrypt(b.contents!),
    description: b.description ?? null,
    ...row,
    datastore_id: datastoreId,
    datastore_version_id: versionId,
    md5: contentsMd5(b.contents!),
    created: now,
    updated: now,
    // Upstream: an admin's module is an admin module (members cannot change it) unless full_access.
    is_admin: b.full_access ? 0 : isAdmin ? 1 : 0,
  })
  lab.log(`module ${id} (${b.name}) created in project ${projectId}`)
  return modules(lab.db).get(id)!
}

/** Upstream's module update (see the comments for where this lab differs). */
export function updateModule(lab: Lab, cipher: ModuleContentsCipher, viewer: Viewer, id: string, b: ModuleFields): ModuleRow {
  const { projectId, isAdmin } = viewer
  const original = loadModule(lab, viewer, id)
  enforceLiveUpdate(lab, original)
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
  refuseDuplicate(lab, m)
  if (b.contents !== undefined) {
    const md5 = contentsMd5(b.contents)
    if (md5 !== original.md5) {
      m.md5 = md5
      m.contents = cipher.encrypt(b.contents)
    }
  }
  m.updated = isoNow()
  modules(lab.db).update(m)
  return modules(lab.db).get(m.id)!
}

/** Upstream's module delete: a soft delete, refused while applied (unless live_update). */
export function deleteModule(lab: Lab, viewer: Viewer, id: string): void {
  const m = loadModule(lab, viewer, id)
  adminOptions(viewer.isAdmin, 'delete', m, undefined)
  enforceLiveUpdate(lab, m)
  modules(lab.db).markDeleted(m.id, isoNow())
}

/** Records a reapply request (run in the background by modules/apply.ts runReapply); returns its id. */
export function recordReapply(lab: Lab, viewer: Viewer, m: ModuleRow, r: ReapplyFields): string {
  const requestId = randomUUID()
  moduleReapplyRequests(lab.db).insert({
    id: requestId,
    module_id: m.id,
    tenant_id: viewer.projectId,
    is_admin: viewer.isAdmin ? 1 : 0,
    md5: r.md5 ?? null,
    include_clustered: r.include_clustered ? 1 : 0,
    batch_size: r.batch_size ?? null,
    batch_delay: r.batch_delay ?? null,
    force: r.force ? 1 : 0,
    created: isoNow(),
  })
  return requestId
}
