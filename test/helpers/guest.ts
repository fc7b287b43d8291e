import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { processesUnder } from '../../src/server/compute/processes.js'

// An instance's own files and processes as root on the host finds them, on either compute: under
// `--isolation none` its directory and host pids; under `sandbox` (docs/isolation.md) its volume, mounted at
// the directory's `mnt`, and pids of the sandbox's own PID namespace in its pid files.

const sandboxed = (dataDir: string, id: string) => existsSync(join(dataDir, 'instances', id, 'sandbox.json'))

/** The directory holding an instance's agent.json, conf/, run/, data/ and logs. */
export function guestDir(dataDir: string, id: string): string {
  const dir = join(dataDir, 'instances', id)
  return sandboxed(dataDir, id) ? join(dir, 'mnt') : dir
}

/** The host pid of the process a pid file of the instance names (`file` relative to guestDir; its first line), if it runs. */
export function guestPid(dataDir: string, id: string, file: string): number | undefined {
  let pid: number | undefined
  try {
    pid =
      Number(
        readFileSync(join(guestDir(dataDir, id), file), 'utf8')
          .split('\n')[0]!
          .trim(),
      ) || undefined
  } catch {
    return undefined
  }
  return pid !== undefined && sandboxed(dataDir, id) ? hostPidOf(id, pid) : pid
}

/**
 * The host pid of a pid as instance `id`'s agent reports it (guest status: agent_pid, engine_pid): the same pid on
 * `none`, the sandbox's PID namespace's one under `sandbox` (signalling it from the host would hit another process).
 */
export function hostPid(dataDir: string, id: string, pid: number): number | undefined {
  return sandboxed(dataDir, id) ? hostPidOf(id, pid) : pid
}

/** The host pid of the process that is `nsPid` in instance `id`'s sandbox: its innermost NSpid, in the instance's cgroup. */
function hostPidOf(id: string, nsPid: number): number | undefined {
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue
    try {
      const ns = /^NSpid:\s+(.*)$/m
        .exec(readFileSync(`/proc/${e}/status`, 'utf8'))?.[1]
        ?.trim()
        .split(/\s+/)
        .map(Number)
      if (ns && ns.length > 1 && ns.at(-1) === nsPid && readFileSync(`/proc/${e}/cgroup`, 'utf8').includes(`/${id}`)) return Number(e)
    } catch {
      /* gone meanwhile */
    }
  }
  return undefined
}

/** `pid`, or a test failure saying that `what` does not run. */
export function running(pid: number | undefined, what: string): number {
  if (pid === undefined) throw new Error(`${what} does not run`)
  return pid
}

/**
 * The instance directories of a lab, but a warm sandbox's (docs/isolation.md *Warm sandboxes*: made ahead of the
 * next create, it belongs to no instance yet; its record says `warm`).
 */
export function instanceDirs(dataDir: string): string[] {
  return readdirSync(join(dataDir, 'instances')).filter((id) => {
    try {
      return (JSON.parse(readFileSync(join(dataDir, 'instances', id, 'sandbox.json'), 'utf8')) as { warm?: boolean }).warm !== true
    } catch {
      return true // no record: not a sandbox
    }
  })
}

/** Host pids of the processes in a cgroup named by instance `id` (a sandbox's, or a `none` instance's limits). */
function groupProcesses(id: string): number[] {
  const pids: number[] = []
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue
    try {
      if (readFileSync(`/proc/${e}/cgroup`, 'utf8').includes(`/${id}\n`)) pids.push(Number(e))
    } catch {
      /* gone meanwhile */
    }
  }
  return pids
}

/**
 * An instance's processes: those processesUnder finds by their paths under its directory (a `none` instance's) and
 * those in its cgroup (a sandbox's paths are its mount namespace's). Also after the delete: it needs no record.
 */
export function guestProcesses(dataDir: string, id: string): number[] {
  return [...new Set([...processesUnder(join(dataDir, 'instances', id)), ...groupProcesses(id)])]
}

/** Every instance's processes in a lab (guestProcesses of each instance directory). */
export function labProcesses(dataDir: string): number[] {
  let ids: string[] = []
  try {
    ids = readdirSync(join(dataDir, 'instances'))
  } catch {
    /* none */
  }
  return [...new Set([...processesUnder(dataDir), ...ids.flatMap((id) => guestProcesses(dataDir, id))])]
}
