import type { RpcArgs } from '../../protocol/index.js'
import type { Lab } from '../lab.js'
import { RPC_TIMEOUT } from '../broker/rpc.js'
import type { InstanceJoined } from '../db/instances.js'
import { flavors } from '../db/flavors.js'
import { configurationStore, type ConfigurationJoined } from '../db/configurations.js'
import { InstanceTask } from '../tasks/instance-tasks.js'
import { badRequest, notFound } from '../errors.js'
import { guestFault } from '../instances/guest.js'
import { agentReachable } from '../tasks/agent-health.js'
import { instanceStatus } from '../instances/status.js'
import { baseConfiguration, type ConfigValue as DefaultValue } from '../../common/engines/index.js'
import { checkEngineValues } from './engine-values.js'

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
  const rows = configurationStore(lab.db).groups.values(groupId)
  return overridesOf(
    lab,
    versionId,
    rows.map((v) => [v.configuration_key, v.configuration_value]),
  )
}

/** Stored values (name, text) typed per the version's parameters, and whether any needs a restart. */
export function overridesOf(lab: Lab, versionId: string, values: Array<[string, string]>): { overrides: Overrides; restartRequired: boolean } {
  const { parameters } = configurationStore(lab.db)
  const rules = new Map(parameters.list(versionId).map((p) => [p.name.toLowerCase(), p]))
  const overrides: Overrides = {}
  let restartRequired = false
  for (const [key, text] of values) {
    const rule = rules.get(key.toLowerCase())
    overrides[key] = typed(text, rule?.data_type)
    // A value whose parameter was deleted since: assume the worst.
    if (!rule || rule.restart_required) restartRequired = true
  }
  return { overrides, restartRequired }
}

/** The flavor's RAM and the base config values the agent rendered for this instance. */
export function instanceBaseConfiguration(lab: Lab, inst: InstanceJoined): Record<string, DefaultValue> {
  const flavor = inst.flavor_id ? flavors(lab.db).get(inst.flavor_id) : undefined
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
  return configurationStore(lab.db).groups.attachedTo(instanceId)
}

async function guestCall<M extends 'update_overrides' | 'apply_overrides'>(lab: Lab, id: string, method: M, args: RpcArgs<M>): Promise<void> {
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
  checkGroupForEngine(lab, g)
  return g
}

/**
 * A stored group's values checked as a create would check them now (engine-values.ts):
 * a group stored before those checks existed is refused at attach and instance create
 * rather than breaking the instance.
 */
export function checkGroupForEngine(lab: Lab, g: ConfigurationJoined): void {
  const { groups, parameters } = configurationStore(lab.db)
  const types = new Map(parameters.list(g.datastore_version_id).map((r) => [r.name, r.data_type]))
  checkEngineValues(
    g.dsv_manager,
    groups.values(g.id).map((v) => [v.configuration_key, v.configuration_value]),
    types,
  )
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
    configurationStore(lab.db).groups.setAttached(instanceId, g.id)
    lab.instances.setTask(instanceId, 'RESTART_REQUIRED')
  })()
  try {
    await applyIfDynamic(lab, instanceId, overrides, restartRequired)
  } catch (e) {
    // The engine refused the values live: the attach is undone (file emptied, base values
    // back, group unrecorded) so the answer's error is the whole story. When even that
    // fails, the instance stays attached and RESTART_REQUIRED, which says what it runs.
    const inst = lab.instances.get(instanceId)
    if (inst) await detachConfiguration(lab, inst).catch((undo: Error) => lab.log(`instance ${instanceId}: attach of ${g.id} not undone: ${undo.message}`))
    throw e
  }
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
    configurationStore(lab.db).groups.setAttached(inst.id, null)
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
 * PUT/PATCH of a group (upstream re-runs the attach logic on every instance using it),
 * all or nothing: each instance gets the new values (update_overrides; apply_overrides
 * when every value is dynamic and the instance is idle) before `save` stores them. The
 * first refusal puts the old values back on the instances already changed, and is the
 * answer: the group is unchanged, and no instance is left on values the answer denies.
 * Upstream logs the failure and answers success, the instance silently keeping its old
 * values. Keys a PUT removes go back to their base values live, as on a detach; one
 * without a base value needs a restart. An instance busy with a task gets the file only
 * (its values apply at its next restart, task RESTART_REQUIRED once the task is done).
 */
export async function updateGroupEverywhere(lab: Lab, g: ConfigurationJoined, values: Array<[string, string]>, save: () => void): Promise<void> {
  const { groups } = configurationStore(lab.db)
  const before = groupOverrides(lab, g.id, g.datastore_version_id)
  const after = overridesOf(lab, g.datastore_version_id, values)
  const targets = groups
    .instancesUsing(g.id, '', 1_000_000)
    .map((r) => lab.instances.get(r.id))
    .filter((i): i is InstanceJoined => i !== undefined)
  const changed: Array<{ inst: InstanceJoined; applied: boolean }> = []
  const live = (inst: InstanceJoined, from: Overrides, to: Overrides, restart: boolean): Overrides | undefined => {
    // What apply_overrides gets to move an instance from one set of values to another.
    if (restart) return undefined
    const out: Overrides = { ...to }
    const base = instanceBaseConfiguration(lab, inst)
    for (const k of Object.keys(from)) {
      if (Object.hasOwn(to, k)) continue
      const v = baseValue(base, k)
      if (v === undefined) return undefined
      out[k] = v
    }
    return out
  }
  const forward = new Map<string, Overrides | undefined>()
  let current: InstanceJoined | undefined
  try {
    for (const inst of targets) {
      current = inst
      if (!agentReachable(lab, inst.id)) throw badRequest(`The guest agent of instance ${inst.id} is not running.`)
      await guestCall(lab, inst.id, 'update_overrides', { overrides: after.overrides, remove: false })
      const entry = { inst, applied: false }
      changed.push(entry)
      const idle = inst.task_id === InstanceTask.NONE.id
      // A removed restart-required key (before's) cannot go back live either.
      const apply = idle ? live(inst, before.overrides, after.overrides, after.restartRequired || before.restartRequired) : undefined
      forward.set(inst.id, apply)
      if (apply) {
        // Marked before the call: a partly applied set (one CONFIG SET of several) is undone too.
        entry.applied = true
        await guestCall(lab, inst.id, 'apply_overrides', { overrides: apply })
      }
    }
  } catch (e) {
    const fault = guestFault(e)
    const stuck: string[] = []
    for (const { inst, applied } of [...changed].reverse()) {
      try {
        await guestCall(lab, inst.id, 'update_overrides', { overrides: before.overrides, remove: false })
        const back = applied ? live(inst, after.overrides, before.overrides, false) : undefined
        if (back) await guestCall(lab, inst.id, 'apply_overrides', { overrides: back })
        else if (applied) lab.instances.setTask(inst.id, 'RESTART_REQUIRED')
      } catch (undo) {
        // The old values could not be put back: the instance says it needs a restart.
        lab.log(`instance ${inst.id}: configuration ${g.id} not restored: ${(undo as Error).message}`)
        lab.instances.setTask(inst.id, 'RESTART_REQUIRED')
        stuck.push(inst.id)
      }
    }
    const outcome = stuck.length ? `the group was not changed, but instance(s) ${stuck.join(', ')} could not get the old values back and need a restart` : 'nothing was changed'
    const refused = badRequest(`The configuration could not be applied to instance ${current?.id}, ${outcome}: ${fault.message}`)
    refused.guestFailure = fault.guestFailure
    throw refused
  }
  save()
  for (const { inst, applied } of changed) {
    const now = lab.instances.get(inst.id)
    if (now?.task_id !== InstanceTask.NONE.id) continue
    if (!applied || !forward.get(inst.id)) lab.instances.setTask(inst.id, 'RESTART_REQUIRED')
  }
}
