import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'

/**
 * cgroup limits for an instance's engine (engines.md section 4): memory from the flavor's
 * RAM, CPU quota from its vCPUs, and a process count. Two kernels' ways:
 *  - v1 (hybrid hosts like this lab's): one hierarchy per controller, /sys/fs/cgroup/<ctl>;
 *  - v2 (Debian 12 with systemd and most current hosts): one unified hierarchy, where a
 *    controller must be enabled in the parent's cgroup.subtree_control before a child has its files.
 * Each limit uses the v1 controller when one is bound, else the v2 one. Groups are created under
 * this process's own groups so the sandbox's limits still apply. Where no controller can be
 * used the limit is not enforced, said once in the log and shown by `enforcement()`.
 */

export type Limit = 'memory' | 'cpu' | 'pids'
export const LIMITS: readonly Limit[] = ['memory', 'cpu', 'pids']

/** Threads count as tasks: generous for an engine (PostgreSQL's backends, MariaDB's threads), a stop for a fork bomb. */
export const PIDS_MAX = 1024

/** Where this process's groups are: v1 per controller, v2 its unified group (absolute paths). */
export interface Hierarchy {
  v1: Partial<Record<Limit, string>>
  v2?: string
}

function readOr(path: string): string {
  try {
    return readFileSync(path, 'utf8')
  } catch {
    return ''
  }
}

/** This process's hierarchy, from /proc/self/cgroup and /proc/self/mounts. */
export function hostHierarchy(): Hierarchy {
  const mounts = readOr('/proc/self/mounts')
    .split('\n')
    .map((l) => l.split(' '))
    .filter((f) => f[2] === 'cgroup' || f[2] === 'cgroup2')
  const h: Hierarchy = { v1: {} }
  for (const line of readOr('/proc/self/cgroup').split('\n')) {
    const [num, ctrls, path] = line.split(':')
    if (path === undefined) continue
    if (num === '0' && ctrls === '') {
      const mount = mounts.find((f) => f[2] === 'cgroup2')?.[1]
      if (mount) h.v2 = join(mount, path)
      continue
    }
    for (const c of ctrls!.split(',')) {
      if (!(LIMITS as readonly string[]).includes(c)) continue
      const mount = mounts.find((f) => f[2] === 'cgroup' && f[3]!.split(',').includes(c))?.[1]
      if (mount) h.v1[c as Limit] = join(mount, path)
    }
  }
  return h
}

/** The v2 controllers a child of the group may use (listed in its cgroup.controllers). */
function v2Controllers(group: string): string[] {
  return readOr(join(group, 'cgroup.controllers')).trim().split(/\s+/).filter(Boolean)
}

/** How each limit is applied on this host: 'v1', 'v2', or undefined (not enforced). */
export function enforcement(h: Hierarchy = hostHierarchy()): Record<Limit, 'v1' | 'v2' | undefined> {
  const v2 = h.v2 ? v2Controllers(h.v2) : []
  const how = (l: Limit) => (h.v1[l] && existsSync(h.v1[l]) ? 'v1' : v2.includes(l) ? 'v2' : undefined)
  return { memory: how('memory'), cpu: how('cpu'), pids: how('pids') }
}

/** One line for banners and views: what is enforced, and what is not. */
export function enforcementText(e: Record<Limit, 'v1' | 'v2' | undefined> = enforcement()): string {
  const on = LIMITS.filter((l) => e[l])
  const off = LIMITS.filter((l) => !e[l])
  if (!on.length) return 'not enforced (no usable memory, cpu or pids cgroup controller)'
  const parts = on.map((l) => `${l} (cgroup ${e[l]})`).join(', ')
  return off.length ? `${parts}; ${off.join(', ')} not enforced` : parts
}

/** The files that set a limit in a group of the given version. */
export function limitFiles(limit: Limit, version: 'v1' | 'v2', ramMb: number, vcpus: number): Record<string, string> {
  const bytes = String(ramMb * 1024 * 1024)
  const quota = String(vcpus * 100000)
  if (version === 'v1') {
    if (limit === 'memory') return { 'memory.limit_in_bytes': bytes }
    if (limit === 'cpu') return { 'cpu.cfs_period_us': '100000', 'cpu.cfs_quota_us': quota }
    return { 'pids.max': String(PIDS_MAX) }
  }
  if (limit === 'memory') return { 'memory.max': bytes }
  if (limit === 'cpu') return { 'cpu.max': `${quota} 100000` }
  return { 'pids.max': String(PIDS_MAX) }
}

const groupName = (instanceId: string) => `trove-${instanceId}`

/** The groups of an instance, with the limits each one holds. */
export function instanceGroups(instanceId: string, h: Hierarchy = hostHierarchy()): Array<{ dir: string; version: 'v1' | 'v2'; limits: Limit[] }> {
  const e = enforcement(h)
  const out: Array<{ dir: string; version: 'v1' | 'v2'; limits: Limit[] }> = []
  for (const l of LIMITS) if (e[l] === 'v1') out.push({ dir: join(h.v1[l]!, groupName(instanceId)), version: 'v1', limits: [l] })
  const v2 = LIMITS.filter((l) => e[l] === 'v2')
  if (v2.length) out.push({ dir: join(h.v2!, groupName(instanceId)), version: 'v2', limits: v2 })
  return out
}

export function createInstanceGroups(instanceId: string, ramMb: number, vcpus: number, log: (m: string) => void, h: Hierarchy = hostHierarchy()): string[] {
  const made: string[] = []
  const groups = instanceGroups(instanceId, h)
  const covered = new Set(groups.flatMap((g) => g.limits))
  const missing = LIMITS.filter((l) => !covered.has(l))
  if (missing.length) log(`cgroup: no usable ${missing.join(', ')} controller (v1 or v2); ${missing.join(', ')} limit not enforced`)
  for (const g of groups) {
    try {
      if (g.version === 'v2') {
        // A v2 child gets a controller's files only once its parent delegates it. The kernel refuses
        // this for a parent that holds processes (other than the root): then the limits are not enforced.
        const parent = join(g.dir, '..')
        const enabled = readOr(join(parent, 'cgroup.subtree_control')).split(/\s+/)
        const wanted = g.limits.filter((l) => !enabled.includes(l))
        if (wanted.length) writeFileSync(join(parent, 'cgroup.subtree_control'), wanted.map((l) => `+${l}`).join(' '))
      }
      mkdirSync(g.dir, { recursive: true })
      for (const l of g.limits) for (const [f, v] of Object.entries(limitFiles(l, g.version, ramMb, vcpus))) writeFileSync(join(g.dir, f), v)
      made.push(g.dir)
    } catch (e) {
      log(`cgroup: cannot set up ${g.limits.join(', ')} limits in ${g.dir} (${(e as Error).message}); not enforced`)
      try {
        rmdirSync(g.dir)
      } catch {
        /* nothing to undo */
      }
    }
  }
  return made
}

/**
 * Sets an instance's limits to a flavor (resize) in the groups it has. Returns the problems
 * (a memory limit the kernel refuses because the group uses more: EBUSY) instead of throwing.
 */
export function setInstanceLimits(instanceId: string, ramMb: number, vcpus: number, h: Hierarchy = hostHierarchy()): string[] {
  const problems: string[] = []
  for (const g of instanceGroups(instanceId, h)) {
    if (!existsSync(g.dir)) continue
    for (const l of g.limits) {
      for (const [f, v] of Object.entries(limitFiles(l, g.version, ramMb, vcpus))) {
        try {
          writeFileSync(join(g.dir, f), v)
        } catch (e) {
          problems.push(`${join(g.dir, f)}: ${(e as Error).message}`)
        }
      }
    }
  }
  return problems
}

/** Pids currently in the groups (the engine and its children). */
export function groupPids(dirs: string[]): number[] {
  const pids: number[] = []
  for (const d of dirs) {
    try {
      for (const l of readFileSync(join(d, 'cgroup.procs'), 'utf8').split('\n')) if (l.trim()) pids.push(Number(l))
    } catch {
      /* gone */
    }
  }
  return pids
}

/**
 * Removes the groups. A just-killed engine can stay in its group until its parent
 * reaps it, so busy groups are retried for a few seconds; false if one remains.
 */
export async function removeInstanceGroups(dirs: string[], patienceMs = 5000): Promise<boolean> {
  const until = Date.now() + patienceMs
  let left = dirs.filter((d) => existsSync(d))
  while (left.length) {
    left = left.filter((d) => {
      try {
        rmdirSync(d)
        return false
      } catch (e) {
        return (e as NodeJS.ErrnoException).code !== 'ENOENT'
      }
    })
    if (!left.length || Date.now() > until) break
    await sleep(100)
  }
  return left.length === 0
}

export function instanceGroupDirs(instanceId: string, h: Hierarchy = hostHierarchy()): string[] {
  return instanceGroups(instanceId, h).map((g) => g.dir)
}
