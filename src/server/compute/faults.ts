import { readFileSync } from 'node:fs'
import { groupPids } from './cgroups.js'
import { isAlive, processesUnder } from './processes.js'
import { freezeSandbox, sandboxCgroupDirs, sandboxCgroupPath, sandboxState, type SandboxRuntime } from './sandbox.js'

/**
 * Fault injection (issue 16 item 6; lab only, admin only): `trove admin fault inject INSTANCE KIND`.
 * Each verb acts on one instance's own processes or its own packet-filter entry, found through what
 * the lab made for that instance (its sandbox's cgroup, its directory, its agent's pid file), never by
 * name, so a fault never reaches another instance or the host. The server repairs nothing behind the
 * user's back beyond what it always does (AFTER says what happens next), so the fault stays visible.
 */

export const FAULT_KINDS = ['kill-engine', 'kill-agent', 'pause', 'partition', 'heal'] as const
export type FaultKind = (typeof FAULT_KINDS)[number]

export function isFaultKind(k: unknown): k is FaultKind {
  return typeof k === 'string' && (FAULT_KINDS as readonly string[]).includes(k)
}

/** What the lab does after each verb, by itself (README "Fault injection"; the route's answer). */
export const AFTER: Record<FaultKind, string> = {
  'kill-engine': "the agent's supervisor restarts the engine (a replica resumes streaming; a primary's clients reconnect)",
  'kill-agent': 'the engine keeps running; the reconciler starts a new agent, which re-adopts it; heartbeats stop until then',
  pause: 'nothing: agent and engine stay frozen (heartbeats stop, connections hang) until heal',
  partition: 'nothing: the instance stays cut off (from the broker, its peers, clients and the endpoints) until heal',
  heal: 'the instance runs and reaches the network again; an old primary that was failed over meanwhile rejoins as a replica (the rejoin flow)',
}

/** A fault the instance cannot take: `invalid` for a verb it can never take (a 400), else nothing to act on now (a 409). */
export class FaultRefused extends Error {
  constructor(
    message: string,
    readonly invalid = false,
  ) {
    super(message)
  }
}

/** Pids a fault must never signal, whatever a pid file or a group says: init, this server, its parent. */
function protectedPid(pid: number): boolean {
  return !Number.isInteger(pid) || pid <= 1 || pid === process.pid || pid === process.ppid
}

function signal(pids: number[], sig: NodeJS.Signals): number[] {
  const done: number[] = []
  for (const p of pids) {
    if (protectedPid(p)) continue
    try {
      process.kill(p, sig)
      done.push(p)
    } catch {
      /* gone meanwhile */
    }
  }
  return done
}

const list = (pids: number[]) => pids.join(' ')

/** An instance without a sandbox (`--isolation none`): its processes on the host. */
export interface LocalFaultTarget {
  id: string
  /** Its directory: its processes name a path in it or run in it (processes.ts processesUnder). */
  dir: string
  agentPid: number | undefined
  /** Its cgroups (empty when the lab runs without them). */
  groupDirs: string[]
}

/** The instance's processes but its agent: the engine and what it started. */
function localEngine(t: LocalFaultTarget): number[] {
  const pids = new Set([...processesUnder(t.dir), ...groupPids(t.groupDirs)])
  if (t.agentPid !== undefined) pids.delete(t.agentPid)
  return [...pids].filter((p) => !protectedPid(p) && isAlive(p))
}

/** One verb on an instance without a sandbox (SIGKILL, SIGSTOP and SIGCONT; it has no network of its own). */
export async function injectLocalFault(t: LocalFaultTarget, kind: FaultKind): Promise<string> {
  const engine = localEngine(t)
  const agent = t.agentPid !== undefined && isAlive(t.agentPid) ? [t.agentPid] : []
  switch (kind) {
    case 'kill-engine':
      if (!engine.length) throw new FaultRefused(`Instance ${t.id} has no engine process running: nothing to kill.`)
      return `SIGKILL to the engine's processes (${list(signal(engine, 'SIGKILL'))})`
    case 'kill-agent':
      if (!agent.length) throw new FaultRefused(`Instance ${t.id} has no guest agent running: nothing to kill.`)
      return `SIGKILL to the agent (${list(signal(agent, 'SIGKILL'))})`
    case 'pause':
      if (!engine.length && !agent.length) throw new FaultRefused(`Instance ${t.id} has no process running: nothing to pause.`)
      return `SIGSTOP to the agent and the engine (${list(signal([...agent, ...engine], 'SIGSTOP'))})`
    case 'partition':
      throw new FaultRefused(
        `Instance ${t.id} has no network of its own (isolation none: it listens on a host loopback address), so it cannot be partitioned; create it with --isolation sandbox.`,
        true,
      )
    case 'heal': {
      const woken = signal([...agent, ...engine], 'SIGCONT')
      return woken.length ? `SIGCONT to the agent and the engine (${list(woken)})` : 'nothing to heal: no process of the instance runs'
    }
  }
}

/** An instance in a sandbox (docs/isolation.md): its runc container, its cgroup, its packet-filter record. */
export interface SandboxFaultTarget {
  id: string
  runtime: SandboxRuntime
  initPid: number | undefined
  agentPid: number | undefined
  /** Sets the `partitioned` flag of the instance's sandbox record and applies the lab's rules; returns the flag's previous value. */
  setPartitioned(on: boolean): Promise<boolean>
}

/** The sandbox's processes but its init and its agent (the engine and what it started), each checked to be in the sandbox's own cgroup. */
function sandboxEngine(t: SandboxFaultTarget): number[] {
  const own = sandboxCgroupPath(t.runtime, t.id)
  const pids = new Set(groupPids(sandboxCgroupDirs(t.runtime, t.id)))
  for (const p of [t.initPid, t.agentPid]) if (p !== undefined) pids.delete(p)
  return [...pids].filter((p) => {
    if (protectedPid(p)) return false
    try {
      return readFileSync(`/proc/${p}/cgroup`, 'utf8').includes(own)
    } catch {
      return false
    }
  })
}

/** One verb on a sandboxed instance (SIGKILL, the cgroup freezer through runc, the lab's packet filter). */
export async function injectSandboxFault(t: SandboxFaultTarget, kind: FaultKind): Promise<string> {
  const state = await sandboxState(t.runtime, t.id)
  const running = state?.status === 'running' || state?.status === 'paused'
  switch (kind) {
    case 'kill-engine': {
      const engine = running ? sandboxEngine(t) : []
      if (!engine.length) throw new FaultRefused(`Instance ${t.id} has no engine process running: nothing to kill.`)
      return `SIGKILL to the engine's processes (${list(signal(engine, 'SIGKILL'))})`
    }
    case 'kill-agent':
      if (t.agentPid === undefined) throw new FaultRefused(`Instance ${t.id} has no guest agent running: nothing to kill.`)
      return `SIGKILL to the agent (${list(signal([t.agentPid], 'SIGKILL'))})`
    case 'pause':
      if (state?.status === 'paused') throw new FaultRefused(`Instance ${t.id} is paused already.`)
      if (!running) throw new FaultRefused(`Instance ${t.id} has no sandbox running: nothing to pause.`)
      await freezeSandbox(t.runtime, t.id, true)
      return 'the sandbox frozen (runc pause): agent and engine'
    case 'partition':
      if (await t.setPartitioned(true)) throw new FaultRefused(`Instance ${t.id} is partitioned already.`)
      return "the instance's network cut both ways (packet filter): broker, peers, clients, endpoints"
    case 'heal': {
      const done: string[] = []
      if (state?.status === 'paused') {
        await freezeSandbox(t.runtime, t.id, false)
        done.push('the sandbox thawed (runc resume)')
      }
      if (await t.setPartitioned(false)) done.push('its network restored')
      return done.length ? done.join('; ') : 'nothing to heal: the instance was neither paused nor partitioned'
    }
  }
}
