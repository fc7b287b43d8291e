import { randomUUID } from 'node:crypto'
import type { RpcModuleSpec } from '../../protocol/index.js'
import { isoNow } from '../db/index.js'
import type { Lab } from '../lab.js'
import { badRequest } from '../errors.js'
import { RPC_TIMEOUT } from '../broker/rpc.js'
import { agentReachable } from '../tasks/agent-health.js'
import { ModuleContentsCipher } from './contents.js'

/** The modules table's row (what the guest payload is built from). */
interface Row {
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
  priority_apply: number
  apply_order: number
  is_admin: number
}

/** What the guest's module_apply returns per module (internals.md 3.6). */
export interface GuestModuleResult {
  id: string
  name: string
  type: string
  md5: string
  status: string
  message: string
  [k: string]: unknown
}

const ALL = 'all'

/**
 * Upstream's Modules.load_by_ids: the modules named that the caller may use (admins:
 * any; others their project's and the global ones); unknown or foreign ids are
 * silently skipped (api.md 6.7).
 */
export function loadModulesByIds(lab: Lab, ids: string[], projectId: string, isAdmin: boolean): Row[] {
  if (!ids.length) return []
  const scope = isAdmin ? '' : ' AND (tenant_id = ? OR tenant_id IS NULL)'
  const rows = lab.db.prepare(`SELECT * FROM modules WHERE deleted = 0 AND id IN (${ids.map(() => '?').join(',')})${scope}`).all(...ids, ...(isAdmin ? [] : [projectId])) as Row[]
  return rows
}

/** Upstream's Modules.load_auto_apply: the project's (and global) auto-apply modules for a datastore version. */
export function loadAutoApply(lab: Lab, projectId: string, datastoreVersionId: string): Row[] {
  const dsId = datastoreOf(lab, datastoreVersionId)
  return lab.db
    .prepare(`SELECT * FROM modules WHERE deleted = 0 AND auto_apply = 1 AND (tenant_id = ? OR tenant_id IS NULL)
    AND (datastore_id IS NULL OR datastore_id = ?) AND (datastore_version_id IS NULL OR datastore_version_id = ?)`)
    .all(projectId, dsId, datastoreVersionId) as Row[]
}

function datastoreOf(lab: Lab, versionId: string): string | null {
  return (lab.db.prepare('SELECT datastore_id FROM datastore_versions WHERE id = ?').pluck().get(versionId) as string | undefined) ?? null
}

/** Upstream's Modules.validate: 400 ModuleInvalid when a module is for another datastore or version. */
export function validateModulesFor(lab: Lab, modules: Row[], datastoreVersionId: string): void {
  const dsId = datastoreOf(lab, datastoreVersionId)
  for (const m of modules) {
    if (m.datastore_id && m.datastore_id !== dsId) throw badRequest(`The module is invalid: Module '${m.name}' cannot be applied (Wrong datastore '${m.datastore_id}' - expected '${dsId}')`)
    if (m.datastore_version_id && m.datastore_version_id !== datastoreVersionId)
      throw badRequest(`The module is invalid: Module '${m.name}' cannot be applied (Wrong datastore version '${m.datastore_version_id}' - expected '${datastoreVersionId}')`)
  }
}

/** Upstream's convert_modules_to_list: `{module: {...view, contents}}` per module, contents in the clear, in apply order. */
export function guestModulePayload(lab: Lab, modules: Row[]): Array<{ module: RpcModuleSpec }> {
  const cipher = new ModuleContentsCipher(lab.config.dataDir)
  const name = (table: 'datastores' | 'datastore_versions', id: string | null) =>
    id === null ? ALL : ((lab.db.prepare(`SELECT name FROM ${table} WHERE id = ?`).pluck().get(id) as string | undefined) ?? id)
  const sorted = [...modules].sort((a, b) => b.priority_apply - a.priority_apply || a.apply_order - b.apply_order)
  return sorted.map((m) => ({
    module: {
      id: m.id,
      name: m.name,
      type: m.type,
      md5: m.md5,
      contents: cipher.decrypt(m.contents),
      datastore: name('datastores', m.datastore_id),
      datastore_version: name('datastore_versions', m.datastore_version_id),
      tenant: m.tenant_id ?? ALL,
      auto_apply: m.auto_apply === 1,
      visible: m.visible === 1,
      is_admin: m.is_admin === 1,
      priority_apply: m.priority_apply === 1,
      apply_order: m.apply_order,
      live_update: m.live_update === 1,
      created: m.created,
      updated: m.updated,
    },
  }))
}

/** Upstream's add_instance_modules: the applied md5 per module, one live row per (instance, module). */
export function recordInstanceModules(lab: Lab, instanceId: string, modules: Row[]): void {
  const now = isoNow()
  const tx = lab.db.transaction(() => {
    for (const m of modules) {
      const updated = lab.db.prepare('UPDATE instance_modules SET md5 = ?, updated = ? WHERE instance_id = ? AND module_id = ? AND deleted = 0').run(m.md5, now, instanceId, m.id)
      if (updated.changes === 0)
        lab.db.prepare('INSERT INTO instance_modules (id, instance_id, module_id, md5, created, updated) VALUES (?, ?, ?, ?, ?, ?)').run(randomUUID(), instanceId, m.id, m.md5, now, now)
    }
  })
  tx()
}

/**
 * The create flow's module step (upstream passes them in prepare): the modules asked
 * for at create plus the auto-apply ones, applied once the guest is up. A failure is
 * logged, not fatal: upstream's prepare records a module's failure in its result.
 */
export async function applyModulesAtCreate(lab: Lab, instanceId: string, moduleIds: string[]): Promise<void> {
  const inst = lab.instances.get(instanceId)
  if (!inst?.datastore_version_id) return
  // The API checked the caller may use them when it accepted the create.
  const asked = loadModulesByIds(lab, moduleIds, inst.tenant_id, true)
  const auto = loadAutoApply(lab, inst.tenant_id, inst.datastore_version_id)
  const modules = [...asked, ...auto.filter((a) => !asked.some((m) => m.id === a.id))]
  if (!modules.length) return
  try {
    const results = await lab.rpc.call(instanceId, 'module_apply', { modules: guestModulePayload(lab, modules) }, RPC_TIMEOUT.high)
    recordInstanceModules(lab, instanceId, modules)
    lab.log(`instance ${instanceId}: modules applied at create: ${results.map((r) => `${r.name} ${r.status}`).join(', ')}`)
  } catch (e) {
    lab.log(`instance ${instanceId}: applying modules at create failed: ${(e as Error).message}`)
  }
}

/** A recorded reapply request (module_reapply_requests). */
interface ReapplyRow {
  id: string
  module_id: string
  tenant_id: string
  is_admin: number
  md5: string | null
  batch_size: number | null
  batch_delay: number | null
  force: number
  state: string
}

/** Upstream's module_reapply_max_batch_size and module_reapply_min_batch_delay (s). */
const REAPPLY_MAX_BATCH = 50
const REAPPLY_MIN_DELAY_S = 2

/**
 * Upstream's task manager reapply_module: the module again on every instance (the
 * caller's, or all for an admin) that has it with another md5 (only those with
 * `md5` when given), or on all of them with force; in batches of at most 50 with at
 * least 2 s between them. Instances whose guest fails keep their old md5 (logged).
 * Runs in the background; the request row ends 'done'.
 */
export async function runReapply(lab: Lab, requestId: string): Promise<void> {
  const r = lab.db.prepare('SELECT * FROM module_reapply_requests WHERE id = ?').get(requestId) as ReapplyRow | undefined
  if (r?.state !== 'pending') return
  lab.db.prepare("UPDATE module_reapply_requests SET state = 'running' WHERE id = ?").run(r.id)
  const m = lab.db.prepare('SELECT * FROM modules WHERE id = ? AND deleted = 0').get(r.module_id) as Row | undefined
  let applied = 0
  try {
    if (!m) return
    const scope = r.is_admin ? '' : ' AND i.tenant_id = @tenant'
    const filter = r.md5 ? ' AND im.md5 = @md5' : r.force ? '' : ' AND im.md5 != @current'
    const ids = lab.db
      .prepare(`SELECT DISTINCT i.id FROM instance_modules im JOIN instances i ON i.id = im.instance_id
      WHERE im.module_id = @module AND im.deleted = 0 AND i.deleted = 0${scope}${filter} ORDER BY i.id`)
      .pluck()
      .all({ module: m.id, tenant: r.tenant_id, md5: r.md5, current: m.md5 }) as string[]
    const batch = Math.min(r.batch_size ?? REAPPLY_MAX_BATCH, REAPPLY_MAX_BATCH)
    const delayMs = Math.max(r.batch_delay ?? REAPPLY_MIN_DELAY_S, REAPPLY_MIN_DELAY_S) * 1000
    const payload = guestModulePayload(lab, [m])
    for (let i = 0; i < ids.length; i += batch) {
      if (i > 0) await new Promise((res) => setTimeout(res, delayMs))
      await Promise.all(
        ids.slice(i, i + batch).map(async (id) => {
          if (!agentReachable(lab, id)) {
            lab.log(`module ${m.id}: instance ${id} skipped in the reapply: its guest agent is not running`)
            return
          }
          try {
            await lab.rpc.call(id, 'module_apply', { modules: payload }, RPC_TIMEOUT.high)
            recordInstanceModules(lab, id, [m])
            applied++
          } catch (e) {
            lab.log(`module ${m.id}: reapply on instance ${id} failed: ${(e as Error).message}`)
          }
        }),
      )
    }
  } finally {
    lab.db.prepare("UPDATE module_reapply_requests SET state = 'done' WHERE id = ?").run(r.id)
    lab.log(`module ${r.module_id}: reapplied on ${applied} instance(s)`)
  }
}
