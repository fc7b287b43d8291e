import { existsSync, readFileSync, realpathSync, renameSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve, sep } from 'node:path'
import { type AgentBootstrap, INSTANCE_FILES } from '../../protocol/index.js'
import type { LaunchSpec } from './compute.js'
import { AGENT_NODE_FLAGS, TROVE_BIN } from './local.js'
import { SYSTEM_DIRS, VOLUME_MOUNT } from './oci-config.js'
import { SANDBOX_RECORD } from './sandbox-host.js'

/** Where a sandboxed agent finds the broker: a file of its own /etc (root's, read-only inside). */
export const SANDBOX_BROKER_FILE = 'trove-broker.json'
/** The run user inside every sandbox (its /etc/passwd names the instance's uid so). */
export const SANDBOX_USER = 'trove'
/** Processes and threads of one instance (agent ~12, Redis ~6, MariaDB ~40, PostgreSQL ~1 per connection). */
const SANDBOX_PIDS = 1024
/** The least memory a sandbox gets: the agent (~60 MB) lives inside the flavor's RAM too. */
const MIN_SANDBOX_MB = 256
/**
 * The sandbox's init: catatonit in pause mode (docs/isolation.md). It starts nothing, reaps every process
 * re-parented to it (the engine once its agent is gone) and ends the sandbox only when signalled, so the
 * agent is one more process (`runc exec`) that may stop and start again while the engine runs on.
 */
export const SANDBOX_INIT = ['catatonit', '-P']
/** The agent's host pid (runc exec --pid-file), in the bundle: the host's file, not the guest's. */
export const AGENT_PID_FILE = 'agent.pid'
/** Every sandboxed process's environment: nothing of the server's. */
export const SANDBOX_ENV = ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'LANG=C.UTF-8', 'NODE_ENV=production', `HOME=${VOLUME_MOUNT}`]

/** What the server made for a sandboxed instance, recorded (root's, 0600) beside its parts. */
export interface SandboxRecord {
  instanceId: string
  uid?: number
  gid?: number
  address?: string
  hostIf?: string
  port?: number
  allowedCidrs?: string[]
  flavor?: { ramMb: number; vcpus: number }
  /** Cut off the network both ways by `trove admin fault inject ... partition` until heal (faults.ts; the filter reads it here). */
  partitioned?: boolean
  /** The key its network namespace was attached under when it came from the pool (sandbox-pool.ts); else the instance id. */
  netKey?: string
  /** A warm sandbox (sandbox-warm.ts) no create has taken yet: no instance's row names it; removed at server start. */
  warm?: true
  /** Its agent was started before it was an instance's and waits for its bootstrap (`--await-config`) until launch writes it. */
  awaiting?: true
}

export function readSandboxRecord(instanceDir: string): SandboxRecord {
  return JSON.parse(readFileSync(join(instanceDir, SANDBOX_RECORD), 'utf8')) as SandboxRecord
}

/** Replaces the record whole (a crash leaves the old one or the new one, never half). */
export function writeSandboxRecord(instanceDir: string, r: SandboxRecord): void {
  const file = join(instanceDir, SANDBOX_RECORD)
  writeFileSync(`${file}.tmp`, JSON.stringify(r), { mode: 0o600 })
  renameSync(`${file}.tmp`, file)
}

/** The sandbox's limits from a flavor (memory never under what the agent itself needs). */
export function sandboxLimits(flavor: { ramMb: number; vcpus: number } | undefined): { memoryBytes: number; cpus: number; pids: number } {
  const ramMb = Math.max(flavor?.ramMb ?? MIN_SANDBOX_MB, MIN_SANDBOX_MB)
  return { memoryBytes: ramMb * 1024 * 1024, cpus: flavor?.vcpus ?? 1, pids: SANDBOX_PIDS }
}

/** Host paths the agent needs inside: the package's bin/, dist/, package.json, node_modules, and node. */
export function agentBinds(): Array<{ source: string; destination: string }> {
  const root = resolve(dirname(TROVE_BIN), '..')
  const inSystem = (p: string) => SYSTEM_DIRS.some((d) => p === d || p.startsWith(d + sep))
  const binds: Array<{ source: string; destination: string }> = []
  for (const part of ['bin', 'dist', 'package.json', 'node_modules']) {
    const p = join(root, part)
    if (existsSync(p) && !inSystem(p)) binds.push({ source: realpathSync(p), destination: p })
  }
  const node = process.execPath
  if (!inSystem(node)) binds.push({ source: realpathSync(node), destination: node })
  return binds
}

/** The agent's command line inside the sandbox (its bootstrap is in the volume). */
export function agentArgs(awaiting = false): string[] {
  return [process.execPath, ...AGENT_NODE_FLAGS, TROVE_BIN, 'agent', '--config', `${VOLUME_MOUNT}/${INSTANCE_FILES.bootstrap}`, ...(awaiting ? ['--await-config'] : [])]
}

/** The pid a runc pid file names, if it still runs (not a zombie) in the cgroup `cgroupPath` (e.g. `/trove-lab/id`). */
export function livePidIn(pidFile: string, cgroupPath: string): number | undefined {
  try {
    const pid = Number(readFileSync(pidFile, 'utf8'))
    if (!Number.isInteger(pid) || pid <= 0) return undefined
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    if (/^\d+ \(.*\) [ZX]/s.test(stat)) return undefined
    return readFileSync(`/proc/${pid}/cgroup`, 'utf8').includes(cgroupPath) ? pid : undefined
  } catch {
    return undefined
  }
}

/**
 * A sandboxed agent's bootstrap. Engine data, logs and the agent's files all live in the volume; the host's
 * directories (templates, backups, object store) are not the guest's to see: backups and published logs go through
 * the server's object store (object-store/endpoint.ts), the store's paths being only names in the locations the
 * agent reports.
 */
export function guestBootstrap(boot: LaunchSpec, address: string, fromTemplate: boolean, store: string | undefined, dirs: { backupDir: string; storageDir: string }): AgentBootstrap {
  return {
    ...boot,
    baseDir: VOLUME_MOUNT,
    cgroups: [],
    address,
    brokerFile: `/etc/${SANDBOX_BROKER_FILE}`,
    runUser: SANDBOX_USER,
    ownLog: true,
    prepare: { ...boot.prepare, ...(fromTemplate ? { fromTemplate: true } : {}) },
    ...(store ? { objectStore: { url: store }, ...dirs } : {}),
  }
}
