import { readFileSync } from 'node:fs'

/**
 * A quarter of the process's open-file limit, at most 4096: the API and the broker may each
 * hold that many connections, and half the table stays for SQLite, agents' processes, engine
 * sockets and the reconciler's /proc reads. Node has no getrlimit: /proc/self/limits tells.
 */
export function connectionBudget(): number {
  try {
    const soft = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1]
    if (soft && soft !== 'unlimited') return Math.max(64, Math.min(4096, Math.floor(Number(soft) / 4)))
  } catch {
    /* not Linux: keep the cap */
  }
  return 4096
}
