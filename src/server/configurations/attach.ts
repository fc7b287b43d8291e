import type { Lab } from '../lab.js'
import { RPC_TIMEOUT } from '../broker/rpc.js'
import { isoNow } from '../db/index.js'
import type { InstanceJoined } from '../db/instances.js'
import { configurationStore, type ConfigurationJoined } from '../db/configurations.js'
import { InstanceTask } from '../tasks/instance-tasks.js'
import { badRequest, notFound } from '../api/faults.js'
import { guestFault } from '../api/guest.js'
import { instanceStatus } from '../api/views.js'
import { baseConfiguration, type DefaultValue } from './defaults.js'

/** The group's values typed per parameter, as the guest gets them (JSON scalars). */
export type Overrides = Record<string, DefaultValue>

const INTEGER = /^-?\d+$/

function typed(text: string, dataType: string | undefined): DefaultValue {
  switch (dataType) {
    case 'integer':
      return INTEGER.test(text) && Number.isSafeInteger(Number(text)) ? Number(text) : text
    case 'float':
      return Number.isFinite(Number(text)) && text.trim() !== '' ? Number(text) : text
    case 'boolean':
      if (INTEGER.test(text)) return Number(text) !== 0
      if (/^(true|false)$/i.test(text)) return text.toLowerCase() === 'true'
      return text
    default:
      return text
  }
}

/** A group's values with their parameters: what to send, and whether any needs a restart. */
export function groupOverrides(lab: Lab, groupId: string, versionId: string): { overrides: Overrides; restartRequired: boolean } {
  const { groups, parameters } = configurationStore(lab.db)
  const rules = new Map(parameters.list(versionId).map((p) => [p.name.toLowerCase(), p]))
  const overrides: Overrides = {}
  let restartRequired = false
  for (const v of groups.values(groupId)) {
    const rule = rules.get(v.configuration_key.toLowerCase())
    overrides[v.configuration_key] = typed(v.configuration_value, rule?.data_type)
    // A value whose parameter was deleted since: assume the worst.
    if (!rule || rule.restart_required) restartRequired = true
  }
  return { overrides, restartRequired }
}

/** The flavor's RAM and the base config values the agent rendered for this instance. */
export function instanceBaseConfiguration(lab: Lab, inst: InstanceJoined): Record<string, DefaultValue> {
  const flavor = lab.db.prepare('SELECT ram FROM flavors WHERE id = ?').get(inst.flavor_id) as { ram: number } | undefined
  return baseConfiguration(inst.dsv_manager ?? '', flavor?.ram ?? 512, inst.port)
}

/** The base value of a key: option names take `-` and `_` alike. */
function baseValue(base: Record<string, DefaultValue>, key: string): DefaultValue | undefined {
  for (const k of [key, key.replace(/-/g, '_'), key.replace(/_/g, '-')]) if (Object.hasOwn(base, k)) return base[k]
  return undefined
}

/** The instance's effective values: the base config with the attached group's values over it. */
export function effectiveConfiguration(lab: Lab, inst: InstanceJoined): Record<string, DefaultValue> {
  const out = { ...instanceBaseConfiguration(lab, inst) }
  const attached = configurationIdOf(lab, inst.id)
  if (attached && inst.datastore_version_id) {
    for (const [k, v] of Object.entries(groupOverrides(lab, attached, inst.datastore_version_id).overrides)) {
      const same = [k, k.replace(/-/g, '_'), k.replace(/_/g, '-')].find((x) => Object.hasOwn(out, x))
      out[same ?? k] = v
    }
  }
  return out
}

export function configurationIdOf(lab: Lab, instanceId: string): string | null {
  return (lab.db.prepare('SELECT configuration_id FROM instances WHERE id = ?').pluck().get(instanceId) as string | null | undefined) ?? null
}

async function guestCall(lab: Lab, id: string, method: 'update_overrides' | 'apply_overrides', args: Record<string, unknown>): Promise<void> {
  try {
    await lab.rpc.call(id, method, args, RPC_TIMEOUT.high)
  } catch (e) {
    throw guestFault(e)
  }
}

/** Upstream's _validate_can_perform_assign: server ACTIVE and task exactly NONE. */
function checkAssignable(inst: InstanceJoined): void {
  if (!['ACTIVE', 'HEALTHY'].includes(inst.server_status) || inst.task_id !== InstanceTask.NONE.id)
    throw badRequest(`The operation you have requested cannot be executed because the instance status is currently: ${instanceStatus(inst)}.`)
}

/**
 * Checks an attach (internals.md 1.11): the group visible to the caller (another
 * project's is not found), the same datastore version, nothing attached yet, the
 * instance ACTIVE with task NONE. Returns the group.
 */
export function checkAttach(lab: Lab, inst: InstanceJoined, groupId: string, caller: { projectId: string; isAdmin: boolean }): ConfigurationJoined {
  const attached = configurationIdOf(lab, inst.id)
  if (attached) throw badRequest(`Instance ${inst.id} already has a Configuration Group attached: ${attached}.`)
  checkAssignable(inst)
  const g = configurationStore(lab.db).groups.get(groupId)
  if (!g || (g.tenant_id !== caller.projectId && !caller.isAdmin)) throw notFound(`Configuration group id: ${groupId} could not be found.`)
  if (g.datastore_version_id !== inst.datastore_version_id)
    throw badRequest(`Datastore Version on Configuration ${g.datastore_version_id} does not match the Datastore Version on the instance ${inst.datastore_version_id}.`)
  return g
}

/** A detach is checked like an attach; detaching when nothing is attached is a no-op (false). */
export function checkDetach(lab: Lab, inst: InstanceJoined): boolean {
  if (!configurationIdOf(lab, inst.id)) return false
  checkAssignable(inst)
  return true
}

/**
 * Attach, synchronous as upstream's API: update_overrides persists the values, the
 * task is RESTART_REQUIRED with the group recorded; when no value needs a restart,
 * apply_overrides makes them live and the task is NONE again.
 */
export async function attachConfiguration(lab: Lab, instanceId: string, g: ConfigurationJoined): Promise<void> {
  const { overrides, restartRequired } = groupOverrides(lab, g.id, g.datastore_version_id)
  await guestCall(lab, instanceId, 'update_overrides', { overrides, remove: false })
  lab.db.transaction(() => {
    lab.db.prepare('UPDATE instances SET configuration_id = ?, updated = ? WHERE id = ?').run(g.id, isoNow(), instanceId)
    lab.instances.setTask(instanceId, 'RESTART_REQUIRED')
  })()
  await applyIfDynamic(lab, instanceId, overrides, restartRequired)
}

/**
 * Detach: update_overrides({}, remove=true), the group unrecorded, RESTART_REQUIRED;
 * when every removed key is dynamic and has a base value, apply_overrides with those
 * base values and NONE.
 */
export async function detachConfiguration(lab: Lab, inst: InstanceJoined): Promise<void> {
  const attached = configurationIdOf(lab, inst.id)
  if (!attached || !inst.datastore_version_id) return
  const { overrides, restartRequired } = groupOverrides(lab, attached, inst.datastore_version_id)
  await guestCall(lab, inst.id, 'update_overrides', { overrides: {}, remove: true })
  lab.db.transaction(() => {
    lab.db.prepare('UPDATE instances SET configuration_id = NULL, updated = ? WHERE id = ?').run(isoNow(), inst.id)
    lab.instances.setTask(inst.id, 'RESTART_REQUIRED')
  })()
  const base = instanceBaseConfiguration(lab, inst)
  const defaults: Overrides = {}
  let missing = false
  for (const k of Object.keys(overrides)) {
    const v = baseValue(base, k)
    if (v === undefined) missing = true
    else defaults[k] = v
  }
  await applyIfDynamic(lab, inst.id, defaults, restartRequired || missing)
}

async function applyIfDynamic(lab: Lab, id: string, overrides: Overrides, restartRequired: boolean): Promise<void> {
  if (restartRequired) return
  await guestCall(lab, id, 'apply_overrides', { overrides })
  if (lab.instances.get(id)?.task_id === InstanceTask.RESTART_REQUIRED.id) lab.instances.setTask(id, 'NONE')
}

/**
 * PUT/PATCH of a group: upstream re-runs the attach logic on every instance using it
 * (its new values persisted, applied live when all are dynamic). An instance busy
 * with a task keeps its file for its next restart; failures are logged, not raised:
 * the group itself has been saved.
 */
export async function reapplyGroup(lab: Lab, groupId: string): Promise<void> {
  const { groups } = configurationStore(lab.db)
  const g = groups.get(groupId)
  if (!g) return
  const { overrides, restartRequired } = groupOverrides(lab, g.id, g.datastore_version_id)
  for (const { id } of groups.instancesUsing(g.id, '', 1_000_000)) {
    const inst = lab.instances.get(id)
    if (!inst) continue
    try {
      await guestCall(lab, id, 'update_overrides', { overrides, remove: false })
      if (inst.task_id === InstanceTask.NONE.id) {
        lab.instances.setTask(id, 'RESTART_REQUIRED')
        await applyIfDynamic(lab, id, overrides, restartRequired)
      }
    } catch (e) {
      lab.log(`instance ${id}: configuration ${g.id} not re-applied: ${(e as Error).message}`)
    }
  }
}
