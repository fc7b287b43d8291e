import { readdirSync, readFileSync, readlinkSync, statSync, unlinkSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import type { Lab } from './lab.js'
import { CLAIM_DIR } from './compute/addresses.js'
import { instanceGroupDirs, removeInstanceGroups } from './compute/cgroups.js'
import { isAlive, terminate } from './compute/processes.js'
import { InstanceTask } from './tasks/instance-tasks.js'

/**
 * Task ids a flow moves an instance through and out of again. An instance left in
 * one of them with no running task row has lost its flow (a crash between the API
 * setting the task and the flow being recorded, a flow that died without cleaning
 * up, a task kind nobody handles any more): nothing would ever end it.
 * NONE, RESTART_REQUIRED and the error tasks are resting states, never touched.
 */
const TRANSIENT_TASKS = new Set([0x02, 0x03, 0x04, 0x05, 0x06, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x59])

/** Tasks in which an instance's agent is expected to run and nobody else manages it. */
const RESTING_TASKS = new Set<number>([InstanceTask.NONE.id, InstanceTask.RESTART_REQUIRED.id])

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

export interface ReconcileOptions {
  /** false: agents are run by someone else (scripted-agent tests): never start or kill processes. */
  spawnAgents?: boolean
  /**
   * How old an unknown instance directory (or address claim) must be before it is treated
   * as left over: a create writes its directory and claim a moment before its row.
   */
  graceMs?: number
  /**
   * How long an instance may sit in a transient task with no flow driving it before it is
   * ended (default 10 min: beyond the longest guest call, 180 s, and the build timeout).
   */
  stuckAfterMs?: number
  /** Do not start an agent again within this time of the last start (it may not have written its pid yet). */
  respawnAfterMs?: number
}

/** What one pass found and did; every item was also logged. */
export interface ReconcileReport {
  /** Live instances whose agent was found running (they reconnect to the broker by themselves). */
  adopted: number
  /** Live instances whose dead agent was started again. */
  restartedAgents: string[]
  /** Processes of unknown or deleted instances that were killed. */
  orphanProcesses: number[]
  /** Instance directories of unknown or deleted instances that were removed. */
  orphanDirs: string[]
  /** Address claims of this lab's dead instances that were released (addresses). */
  staleClaims: string[]
  /** Address claims of live instances that were missing and made again. */
  reclaimed: string[]
  /** cgroups of deleted instances that were removed. */
  leftoverCgroups: string[]
  /** Sandbox parts no instance directory owns that were removed (compute.sweep: runc, volumes, namespaces, uids). */
  sandboxLeftovers: string[]
  /** Instances stuck in a transient task with no flow, and what became of them. */
  stuckTasks: Array<{ id: string; task: string; outcome: string }>
}

function emptyReport(): ReconcileReport {
  return { adopted: 0, restartedAgents: [], orphanProcesses: [], orphanDirs: [], staleClaims: [], reclaimed: [], leftoverCgroups: [], sandboxLeftovers: [], stuckTasks: [] }
}

/** Age in ms of a path's last change; Infinity when it is gone. */
function ageOf(path: string): number {
  try {
    return Date.now() - statSync(path).mtimeMs
  } catch {
    return Number.POSITIVE_INFINITY
  }
}

/**
 * Processes that belong to an instance directory under `instancesDir`, by instance id:
 * their command line names a path in it, or their working directory is in it (engines
 * chdir into their data; a removed directory reads back with a " (deleted)" suffix).
 */
export function instanceProcesses(instancesDir: string): Map<string, number[]> {
  const prefix = instancesDir.endsWith('/') ? instancesDir : instancesDir + '/'
  const byId = new Map<string, number[]>()
  const idAfter = (s: string): string | undefined => {
    const at = s.indexOf(prefix)
    if (at < 0) return undefined
    const id = s.slice(at + prefix.length, at + prefix.length + 36)
    return UUID.test(id) ? id : undefined
  }
  let names: string[] = []
  try {
    names = readdirSync('/proc')
  } catch {
    return byId
  }
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue
    const pid = Number(name)
    if (pid === process.pid) continue
    let id: string | undefined
    try {
      id = idAfter(readFileSync(`/proc/${pid}/cmdline`, 'utf8'))
    } catch {
      continue
    }
    if (!id) {
      try {
        id = idAfter(readlinkSync(`/proc/${pid}/cwd`) + '/')
      } catch {
        /* not ours to read */
      }
    }
    if (id) byId.set(id, [...(byId.get(id) ?? []), pid])
  }
  return byId
}

/**
 * Reconciliation (issue 6): makes what runs on the host agree with the database,
 * after a crash, a kill, or a reboot. One pass:
 *  - live instances at rest whose agent died get it started again (the agent
 *    re-adopts a running engine or starts it with its data); a running one is adopted;
 *  - processes, directories, address claims and cgroups of deleted or unknown
 *    instances are reported and removed; a live instance's missing claim is made again;
 *  - an instance stuck in a transient task with no flow to end it is ended: a delete
 *    is submitted again, a build goes to ERROR with a fault, anything else back to NONE
 *    (upstream ends restart/resize/update flows with NONE whatever happens).
 */
export class Reconciler {
  private readonly spawned = new Map<string, number>()
  private timer: NodeJS.Timeout | undefined
  private running: Promise<ReconcileReport> | undefined
  private stopped = false
  readonly graceMs: number
  readonly respawnAfterMs: number
  readonly stuckAfterMs: number

  constructor(
    private readonly lab: Lab,
    private readonly opts: ReconcileOptions = {},
  ) {
    this.graceMs = opts.graceMs ?? 60_000
    this.respawnAfterMs = opts.respawnAfterMs ?? 3_000
    this.stuckAfterMs = opts.stuckAfterMs ?? Math.max(600_000, lab.config.buildTimeoutMs * 2)
  }

  /** Runs a pass now and then every `intervalMs` (timer unref'd; passes never overlap). */
  start(intervalMs: number): void {
    const tick = () => {
      if (this.stopped) return
      void this.run()
        .catch((e: Error) => this.lab.log(`reconcile: pass failed: ${e.message}`))
        .finally(() => {
          if (!this.stopped) {
            this.timer = setTimeout(tick, intervalMs)
            this.timer.unref()
          }
        })
    }
    tick()
  }

  stop(): void {
    this.stopped = true
    clearTimeout(this.timer)
  }

  /** One pass (joins the pass in progress if there is one). */
  run(): Promise<ReconcileReport> {
    this.running ??= this.pass().finally(() => {
      this.running = undefined
    })
    return this.running
  }

  private async pass(): Promise<ReconcileReport> {
    const { lab } = this
    const report = emptyReport()
    if (lab.tasks.isClosed) return report
    const { compute, log } = lab
    const rows = lab.instances.reconcileRows()
    const live = new Map(rows.filter((r) => !r.deleted).map((r) => [r.id, r]))
    const deleted = new Set(rows.filter((r) => r.deleted).map((r) => r.id))
    const manageProcesses = this.opts.spawnAgents !== false
    const processes = instanceProcesses(compute.instancesDir)
    // An agent just started (by the start-up loop, a flow) may not have written its pid file yet.
    const agentStarting = (id: string) =>
      (processes.get(id) ?? []).some((pid) => {
        try {
          return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(`${compute.instanceDir(id)}/agent.json`) && isAlive(pid)
        } catch {
          return false
        }
      })

    // Instances a running flow drives: its own, and any its payload names (a promote or a
    // cluster resize sets the task of several instances from one task row).
    const driven = new Set<string>()
    for (const r of lab.tasks.allRunning()) {
      driven.add(r.instance_id)
      for (const m of r.payload.matchAll(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g)) driven.add(m[0])
    }

    // 1. Live instances: flows that lost their driver, dead agents, missing claims.
    for (const inst of live.values()) {
      const running = driven.has(inst.id)
      if (!running && TRANSIENT_TASKS.has(inst.task_id)) {
        const since = inst.task_start_time ? Date.parse(inst.task_start_time + 'Z') : 0
        if (Date.now() - since >= this.stuckAfterMs) this.endStuck(inst.id, inst.task_id, report)
        continue
      }
      if (inst.address && !compute.reclaim(inst.id, inst.address)) log(`reconcile: instance ${inst.id}: address ${inst.address} is claimed by another lab`)
      if (!manageProcesses || running || !RESTING_TASKS.has(inst.task_id) || !compute.hasBootstrap(inst.id)) continue
      if (compute.agentAlive(inst.id) || agentStarting(inst.id)) {
        report.adopted++
        continue
      }
      const last = this.spawned.get(inst.id) ?? 0
      if (Date.now() - last < this.respawnAfterMs) continue
      log(`reconcile: instance ${inst.id}: agent not running, starting it`)
      this.spawned.set(inst.id, Date.now())
      await compute.spawnAgent(inst.id)
      report.restartedAgents.push(inst.id)
    }
    for (const id of this.spawned.keys()) if (!live.has(id)) this.spawned.delete(id)

    // An id is left over when its row is deleted, or it has no row and its directory
    // (if any) is older than the grace period (a create in progress writes it first).
    const leftover = (id: string) => !live.has(id) && !compute.keeps?.(id) && (deleted.has(id) || ageOf(compute.instanceDir(id)) >= this.graceMs)

    // 2. Processes of instances that are gone (the directory may be gone too).
    if (manageProcesses) {
      for (const [id, pids] of processes) {
        if (!leftover(id)) continue
        const alive = pids.filter(isAlive)
        if (!alive.length) continue
        log(`reconcile: instance ${id} is ${deleted.has(id) ? 'deleted' : 'unknown'} but processes ${alive.join(' ')} still run for it: stopping them`)
        await terminate(alive, 10_000)
        report.orphanProcesses.push(...alive)
      }
    }

    // 3. Directories of instances that are gone: everything of them goes (processes, cgroups, directory).
    let dirs: string[] = []
    try {
      dirs = readdirSync(compute.instancesDir)
    } catch {
      /* none yet */
    }
    for (const id of dirs) {
      if (!UUID.test(id) || !leftover(id)) continue
      if (!manageProcesses && processes.has(id)) continue
      log(`reconcile: instance directory ${compute.instanceDir(id)} belongs to ${deleted.has(id) ? 'a deleted' : 'no known'} instance: removing it`)
      await compute.destroy(id, null)
      report.orphanDirs.push(id)
    }

    // 4. Address claims this lab's instance directories hold for instances that are gone.
    let claims: string[] = []
    try {
      claims = readdirSync(CLAIM_DIR)
    } catch {
      /* no claims yet */
    }
    for (const address of claims) {
      if (address.startsWith('.')) continue // a claim being written or decided (compute/claims.ts)
      let owner = ''
      try {
        owner = readFileSync(join(CLAIM_DIR, address), 'utf8')
      } catch {
        continue
      }
      if (dirname(owner) !== compute.instancesDir) continue
      const id = basename(owner)
      if (live.has(id) || (!deleted.has(id) && ageOf(owner) < this.graceMs)) continue
      try {
        if (readFileSync(join(CLAIM_DIR, address), 'utf8') === owner) unlinkSync(join(CLAIM_DIR, address))
        log(`reconcile: address ${address} was still claimed for ${deleted.has(id) ? 'deleted' : 'unknown'} instance ${id}: released`)
        report.staleClaims.push(address)
      } catch {
        /* released meanwhile */
      }
    }

    // 5. cgroups of this lab's deleted instances (other labs on the host share the parent groups).
    const parents = [...new Set(instanceGroupDirs('x').map((d) => dirname(d)))]
    for (const parent of parents) {
      let groups: string[] = []
      try {
        groups = readdirSync(parent).filter((g) => g.startsWith('trove-'))
      } catch {
        continue
      }
      for (const g of groups) {
        const id = g.slice('trove-'.length)
        if (!deleted.has(id) && !report.orphanDirs.includes(id)) continue
        const dir = join(parent, g)
        if (await removeInstanceGroups([dir], 2000)) {
          log(`reconcile: cgroup ${dir} of deleted instance ${id} removed`)
          report.leftoverCgroups.push(dir)
        } else log(`reconcile: cgroup ${dir} of deleted instance ${id} is still busy`)
      }
    }

    // 6. Parts of sandboxes whose instance directory is gone (compute/sandboxed.ts).
    if (manageProcesses && compute.sweep) {
      try {
        report.sandboxLeftovers = await compute.sweep()
        for (const r of report.sandboxLeftovers) log(`reconcile: ${r} belonged to no instance directory: removed`)
      } catch (e) {
        log(`reconcile: sweeping sandbox leftovers failed: ${(e as Error).message}`)
      }
    }
    return report
  }

  private endStuck(id: string, taskId: number, report: ReconcileReport): void {
    const { lab } = this
    const task = Object.values(InstanceTask).find((t) => t.id === taskId)
    const name = task?.action ?? `0x${taskId.toString(16)}`
    let outcome: string
    if (taskId === InstanceTask.DELETING.id) {
      lab.tasks.submit('delete_instance', id)
      outcome = 'delete submitted again'
    } else if (taskId === InstanceTask.BUILDING.id) {
      const message = 'The build was interrupted and no flow is left to finish it.'
      lab.instances.addFault(id, message)
      lab.instances.setTask(id, 'BUILDING_ERROR_SERVER')
      lab.instances.setServerStatus(id, 'ERROR')
      lab.notifications.end('instance_create', id, message)
      outcome = 'ERROR with a fault'
    } else {
      lab.instances.setTask(id, 'NONE')
      outcome = 'task NONE'
    }
    lab.log(`reconcile: instance ${id} was left in task ${name} with no flow running: ${outcome}`)
    report.stuckTasks.push({ id, task: name, outcome })
  }
}
