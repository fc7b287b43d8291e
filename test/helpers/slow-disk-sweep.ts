// The blkio cgroups of the dead-links tests' slow disk (helpers/auto-failover-pause.ts) whose test process is gone,
// removed when empty: an undo right after moving the processes back can find one still busy (a process forked or
// exiting meanwhile), and a test killed before its undo leaves its own. Run by the next slowDisk and after the suite.
import { existsSync, readdirSync, rmdirSync } from 'node:fs'
import { join } from 'node:path'

export const BLKIO_ROOT = '/sys/fs/cgroup/blkio'

export function sweepSlowDiskCgroups(): void {
  if (!existsSync(BLKIO_ROOT)) return
  for (const n of readdirSync(BLKIO_ROOT)) {
    const pid = /^trove-slow-disk-(\d+)$/.exec(n)?.[1]
    if (!pid || existsSync(`/proc/${pid}`)) continue
    try {
      rmdirSync(join(BLKIO_ROOT, n))
    } catch {
      /* not empty yet */
    }
  }
}
