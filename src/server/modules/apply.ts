import type { RpcModuleSpec } from '../../protocol/index.js'
import { isoNow } from '../db/index.js'
import type { Lab } from '../lab.js'
import { badRequest } from '../errors.js'
import { RPC_TIMEOUT } from '../broker/rpc.js'
import { agentReachable } from '../tasks/agent-health.js'
import { ModuleContentsCipher } from './contents.js'
import { datastoreVersions } from '../db/datastore-versions.js'
import { type AppliedGroup, type AppliedModule, instanceModules } from '../db/instance-modules.js'
import { modules as moduleRepo, type ModuleRow } from '../db/modules.js'
import { moduleReapplyRequests } from '../db/module-reapply-requests.js'
import { setTimeout as sleep } from 'node:timers/promises'

type Row = ModuleRow

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
  return moduleRepo(lab.db).byIds(ids, { projectId, isAdmin })
}

/** Upstream's Modules.load_auto_apply: the project's (and global) auto-apply modules for a datastore version. */
export function loadAutoApply(lab: Lab, projectId: string, datastoreVersionId: string): Row[] {
  const dsId = datastoreOf(lab, datastoreVersionId)
  return moduleRepo(lab.db).autoApply(projectId, dsId, datastoreVersionId)
}

function datastoreOf(lab: Lab, versionId: string): string | null {
  return datastoreVersions(lab.db).datastoreOf(versionId) ?? null
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
  const repo = moduleRepo(lab.db)
  const sorted = [...modules].sort((a, b) => b.priority_apply - a.priority_apply || a.apply_order - b.apply_order)
  return sorted.map((m) => {
    const n = repo.names(m.datastore_id, m.datastore_version_id)
    return {
      module: {
        id: m.id,
        name: m.name,
        type: m.type,
        md5: m.md5,
        contents: cipher.decrypt(m.contents),
        datastore: m.datastore_id === null ? ALL : (n.ds_name ?? m.datastore_id),
        datastore_version: m.datastore_version_id === null ? ALL : (n.dsv_name ?? m.datastore_version_id),
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
    }
  })
}

/** Upstream's add_instance_modules: the applied md5 per module, one live row per (instance, module). */
export function recordInstanceModules(lab: Lab, instanceId: string, modules: Row[]): void {
  const now = isoNow()
  const repo = instanceModules(lab.db)
  const tx = lab.db.transaction(() => {
    for (const m of modules) repo.record(instanceId, m.id, m.md5, now)
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
  const requests = moduleReapplyRequests(lab.db)
  const r = requests.get(requestId)
  if (r?.state !== 'pending') return
  requests.setState(r.id, 'running')
  const m = moduleRepo(lab.db).get(r.module_id)
  let applied = 0
  try {
    if (!m) return
    const ids = instanceModules(lab.db).reapplyTargets({ moduleId: m.id, tenant: r.is_admin ? null : r.tenant_id, md5: r.md5 || null, force: r.force === 1, current: m.md5 })
    const batch = Math.min(r.batch_size ?? REAPPLY_MAX_BATCH, REAPPLY_MAX_BATCH)
    const delayMs = Math.max(r.batch_delay ?? REAPPLY_MIN_DELAY_S, REAPPLY_MIN_DELAY_S) * 1000
    const payload = guestModulePayload(lab, [m])
    for (let i = 0; i < ids.length; i += batch) {
      if (i > 0) await sleep(delayMs)
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
    requests.setState(r.id, 'done')
    lab.log(`module ${r.module_id}: reapplied on ${applied} instance(s)`)
  }
}

/** The modules the server recorded as applied to an instance, oldest first, with their names. */
export function appliedModules(lab: Lab, instanceId: string): AppliedModule[] {
  return instanceModules(lab.db).ofInstance(instanceId)
}

/** Is the module applied to the instance (a live record)? */
export function isApplied(lab: Lab, instanceId: string, moduleId: string): boolean {
  return instanceModules(lab.db).applied(instanceId, moduleId).length > 0
}

/** Forgets that the module is applied to the instance (after the guest removed it). */
export function forgetApplied(lab: Lab, instanceId: string, moduleId: string): void {
  instanceModules(lab.db).markRemoved(instanceId, moduleId, isoNow())
}

/** Per md5, the live instances (of `tenant`, every project's with null) that have the module. */
export function appliedGroups(lab: Lab, moduleId: string, tenant: string | null): AppliedGroup[] {
  return instanceModules(lab.db).groups(moduleId, tenant)
}

/** A page of the ids of live instances (of `tenant`, or all with null) that have the module, in id order. */
export function instancesWithModule(lab: Lab, moduleId: string, tenant: string | null, marker: string, limit: number): string[] {
  return instanceModules(lab.db).instancePage(moduleId, tenant, marker, limit)
}
