import type { AgentEvent } from '../../protocol/index.js'
import type { EngineManager } from '../../protocol/index.js'
import type { RestoreSpec } from '../../protocol/index.js'
import type { Lab } from '../lab.js'
import { flavors } from '../db/flavors.js'
import { InstanceTask } from './instance-tasks.js'
import { accessSpec } from './resize-instance.js'
import { applyModulesAtCreate } from '../modules/apply.js'
import { groupOverrides } from '../configurations/attach.js'
import type { FlowHandler, TaskRow } from './engine.js'
import { replicaSnapshot } from './replica-create.js'
import { DEFAULT_RETENTION_DAYS } from '../backups/retention.js'

type Outcome = { ok: true } | { ok: false; message: string; timeout?: boolean }

/** A stable server id for MariaDB/MySQL replication, from the instance id (1..2^31-1). */
export function serverIdFor(instanceId: string): number {
  let h = 2166136261
  for (const c of instanceId) h = Math.imul(h ^ c.charCodeAt(0), 16777619) >>> 0
  return (h % 2147483646) + 1
}

export interface CreatePayload {
  databases?: unknown[]
  users?: unknown[]
  rootPassword?: string
  /** Modules to apply once the guest is up (besides the auto-apply ones). */
  modules?: string[]
  /** The configuration group attached at create (its values go into prepare's overrides). */
  configuration?: string
  /** Backups: restore the data dir from this chain instead of initialising it. */
  restore?: RestoreSpec
  /** Replication: a replica of this source, seeded from it (replica-create.ts). */
  replicaOf?: string
}

/**
 * Create: launch the agent (which prepares and starts the engine on its own), then
 * wait for its first HEALTHY heartbeat. The build ends in ACTIVE, or in ERROR with
 * a fault when the guest reports a failure or the build timeout passes.
 */
export class CreateInstanceFlow implements FlowHandler {
  readonly kind = 'create_instance'
  private readonly waiters = new Map<string, (o: Outcome) => void>()

  constructor(private readonly lab: Lab) {}

  async run(task: TaskRow): Promise<void> {
    const { lab } = this
    const inst = lab.instances.get(task.instance_id)
    if (!inst || inst.task_id !== InstanceTask.BUILDING.id) return
    const payload = JSON.parse(task.payload) as CreatePayload
    // A replica asks its source for the replication snapshot before it is launched.
    const replica = payload.replicaOf && (task.step === 'start' || task.step === 'launch' || !lab.compute.hasBootstrap(inst.id)) ? await replicaSnapshot(lab, inst.id, payload.replicaOf) : undefined
    try {
      if (task.step === 'start' || task.step === 'launch' || !lab.compute.hasBootstrap(inst.id)) {
        lab.tasks.step(task, 'launch')
        const flavor = flavors(lab.db).get(inst.flavor_id)
        if (!flavor || !inst.dsv_manager || !inst.address || !inst.port) throw new Error('instance record is incomplete (flavor, datastore or address missing)')
        // A relaunch after a crash mid-launch: the old agent (if any) holds revoked credentials.
        await lab.compute.stopAgent(inst.id)
        await lab.compute.launch({
          instanceId: inst.id,
          datastore: { manager: inst.dsv_manager as EngineManager, version: inst.dsv_name ?? '', ...(inst.dsv_bin_dir ? { binDir: inst.dsv_bin_dir } : {}) },
          brokerFile: lab.brokerFile,
          mqtt: { ...lab.credentials.issue(inst.id), ca: lab.brokerCa },
          address: inst.address,
          port: inst.port,
          flavor: { ramMb: flavor.ram, vcpus: flavor.vcpus },
          ...(inst.access && accessSpec(inst.access) ? { access: accessSpec(inst.access)! } : {}),
          volumeSize: inst.volume_size ?? 1,
          runUser: lab.config.runUser,
          serverId: serverIdFor(inst.id),
          heartbeatMs: lab.config.heartbeatMs,
          // Continuous archiving follows the backup retention (backups/archiving.ts).
          archive: (inst.backup_retention_days ?? DEFAULT_RETENTION_DAYS) > 0,
          prepare: {
            databases: (payload.databases ?? []) as never,
            users: (payload.users ?? []) as never,
            ...(payload.rootPassword ? { rootPassword: payload.rootPassword } : {}),
            ...(payload.restore ? { restore: payload.restore } : {}),
            ...(payload.configuration && inst.datastore_version_id ? { overrides: groupOverrides(lab, payload.configuration, inst.datastore_version_id).overrides } : {}),
            ...(replica ? { replica } : {}),
          },
        })
        lab.tasks.step(task, 'wait')
      } else if (!lab.compute.agentAlive(inst.id)) {
        lab.log(`instance ${inst.id}: agent not running, starting it again`)
        await lab.compute.spawnAgent(inst.id)
      }
    } catch (e) {
      this.fail(inst.id, 'BUILDING_ERROR_SERVER', `Failed to start the guest agent: ${(e as Error).message}`)
      throw e
    }

    const deadline = Date.parse(task.created + 'Z') + lab.config.buildTimeoutMs
    const outcome = await this.waitFor(inst.id, deadline)
    if (lab.tasks.isClosed) throw new Error('server shutting down')
    if (lab.instances.get(inst.id)?.task_id !== InstanceTask.BUILDING.id) return // deleted or reset meanwhile
    if (outcome.ok) {
      await applyModulesAtCreate(lab, inst.id, payload.modules ?? [])
      lab.instances.setTask(inst.id, 'NONE')
      lab.instances.setServerStatus(inst.id, 'ACTIVE')
      lab.log(`instance ${inst.id} is ACTIVE`)
      lab.notifications.instanceCreated(lab.instances.get(inst.id))
    } else {
      this.fail(inst.id, 'BUILDING_ERROR_TIMEOUT_GA', outcome.message)
      throw new Error(outcome.message)
    }
  }

  private fail(id: string, task: 'BUILDING_ERROR_SERVER' | 'BUILDING_ERROR_TIMEOUT_GA', message: string): void {
    const { instances } = this.lab
    instances.addFault(id, message)
    instances.setTask(id, task)
    instances.setServerStatus(id, 'ERROR')
    if (task === 'BUILDING_ERROR_TIMEOUT_GA' && instances.guestStatus(id)?.status_description !== 'failed to spawn') instances.setServiceStatus(id, 'FAILED_TIMEOUT_GUESTAGENT')
    this.lab.log(`instance ${id} is ERROR: ${message}`)
    this.lab.notifications.end('instance_create', id, message)
  }

  private waitFor(id: string, deadline: number): Promise<Outcome> {
    const current = this.lab.instances.guestStatus(id)
    if (current?.status_description === 'healthy') return Promise.resolve({ ok: true })
    return new Promise<Outcome>((resolve) => {
      const left = Math.max(0, deadline - Date.now())
      const timer = setTimeout(() => {
        this.waiters.delete(id)
        resolve({ ok: false, timeout: true, message: `The guest agent did not report the database as healthy within ${Math.round(this.lab.config.buildTimeoutMs / 1000)} s.` })
      }, left)
      this.waiters.set(id, (o) => {
        clearTimeout(timer)
        this.waiters.delete(id)
        resolve(o)
      })
    })
  }

  /** Called for every accepted heartbeat. */
  onAgentEvent(id: string, ev: AgentEvent): void {
    const done = this.waiters.get(id)
    if (!done || ev.kind !== 'heartbeat') return
    if (ev.status === 'HEALTHY') done({ ok: true })
    else if (ev.status === 'FAILED') done({ ok: false, message: ev.fault ?? 'The guest agent could not start the database.' })
  }

  /** Releases waiters at shutdown (their tasks resume at the next start). */
  close(): void {
    for (const [, done] of this.waiters) done({ ok: false, message: 'server shutting down' })
  }
}
