import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

/**
 * cgroup v1 limits for an instance's engine (engines.md section 4): memory from the
 * flavor's RAM, CPU quota from its vCPUs. Groups are created under this process's
 * own groups so the sandbox's limits still apply. Where a controller is missing or
 * not writable the limit is skipped, and said once in the log.
 */
function ownGroup(controller: string): string | undefined {
  try {
    for (const line of readFileSync('/proc/self/cgroup', 'utf8').split('\n')) {
      const [, ctrls, path] = line.split(':')
      if (ctrls && path !== undefined && ctrls.split(',').includes(controller)) return join('/sys/fs/cgroup', controller, path)
    }
  } catch { /* no cgroup v1 */ }
  return undefined
}

export function createInstanceGroups(instanceId: string, ramMb: number, vcpus: number, log: (m: string) => void): string[] {
  const made: string[] = []
  const limits: Array<[string, Record<string, string>]> = [
    ['memory', { 'memory.limit_in_bytes': String(ramMb * 1024 * 1024) }],
    ['cpu', { 'cpu.cfs_period_us': '100000', 'cpu.cfs_quota_us': String(vcpus * 100000) }],
  ]
  for (const [controller, files] of limits) {
    const parent = ownGroup(controller)
    if (!parent) { log(`cgroup: no v1 ${controller} controller; ${controller} limit skipped`); continue }
    const dir = join(parent, `trove-${instanceId}`)
    try {
      mkdirSync(dir, { recursive: true })
      for (const [f, v] of Object.entries(files)) writeFileSync(join(dir, f), v)
      made.push(dir)
    } catch (e) {
      log(`cgroup: cannot set up ${controller} limits (${(e as Error).message}); skipped`)
      try { rmdirSync(dir) } catch { /* nothing to undo */ }
    }
  }
  return made
}

/** Pids currently in the groups (the engine and its children). */
export function groupPids(dirs: string[]): number[] {
  const pids: number[] = []
  for (const d of dirs) {
    try { for (const l of readFileSync(join(d, 'cgroup.procs'), 'utf8').split('\n')) if (l.trim()) pids.push(Number(l)) } catch { /* gone */ }
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
      try { rmdirSync(d); return false } catch (e) { return (e as NodeJS.ErrnoException).code !== 'ENOENT' }
    })
    if (!left.length || Date.now() > until) break
    await new Promise((r) => setTimeout(r, 100))
  }
  return left.length === 0
}

export function instanceGroupDirs(instanceId: string): string[] {
  return ['memory', 'cpu'].map((c) => ownGroup(c)).filter((p): p is string => !!p).map((p) => join(p, `trove-${instanceId}`))
}
