import { readdirSync, readFileSync, readlinkSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'

export function isAlive(pid: number | undefined | null): boolean {
  if (!pid || pid <= 0) return false
  try {
    process.kill(pid, 0)
    // A zombie still answers signal 0; it is not alive for our purposes.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z'
  } catch {
    return false
  }
}

/**
 * Processes that belong to an instance directory: their command line names a path
 * inside it or their working directory is inside it. Engines chdir into their data
 * directory, so this finds them even when they rewrite their process title (Redis).
 */
export function processesUnder(dir: string): number[] {
  const prefix = dir.endsWith('/') ? dir : dir + '/'
  const found: number[] = []
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    const pid = Number(name)
    if (pid === process.pid) continue
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8')
      if (cmd.includes(prefix)) {
        found.push(pid)
        continue
      }
      const cwd = readlinkSync(`/proc/${pid}/cwd`)
      if (cwd === dir || cwd.startsWith(prefix)) found.push(pid)
    } catch {
      /* exited or not ours to read */
    }
  }
  return found
}

/** SIGTERM, wait up to `graceMs`, then SIGKILL whatever is left: the pids that had to be killed. */
export async function terminate(pids: number[], graceMs = 10_000): Promise<number[]> {
  for (const p of pids) {
    try {
      process.kill(p, 'SIGTERM')
    } catch {
      /* gone */
    }
  }
  const until = Date.now() + graceMs
  while (Date.now() < until && pids.some(isAlive)) await sleep(50)
  const killed: number[] = []
  for (const p of pids) {
    if (isAlive(p)) {
      try {
        process.kill(p, 'SIGKILL')
        killed.push(p)
      } catch {
        /* gone */
      }
    }
  }
  const hard = Date.now() + 5000
  while (Date.now() < hard && pids.some(isAlive)) await sleep(50)
  return killed
}
