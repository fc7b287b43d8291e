import { lstat, statfs } from 'node:fs/promises'
import { dirname } from 'node:path'
import type { FilesystemStats } from '../protocol/index.js'
import { diskUsage } from '../common/disk-usage.js'
import { GB, toGb } from '../common/units.js'

/** get_filesystem_stats: usage of the data dir against the volume size. */
export async function filesystemStats(dataDir: string, volumeSizeGb: number): Promise<FilesystemStats> {
  const used = await diskUsage(dataDir)
  return { used: toGb(used), total: volumeSizeGb, free: Math.max(volumeSizeGb * GB - used, 0) }
}

/** Whether `dir` is the root of a filesystem of its own (a sandbox's volume), not a directory of the host's. */
export async function isMountPoint(dir: string): Promise<boolean> {
  try {
    const [here, parent] = await Promise.all([lstat(dir), lstat(dirname(dir))])
    return here.isDirectory() && here.dev !== parent.dev
  } catch {
    return false
  }
}

/**
 * get_filesystem_stats of a volume that is a filesystem of its own (a sandbox's, docs/isolation.md):
 * what the kernel says, as df does (Size, Used, Avail for the engine's uid), so the figures are those
 * at which the engine's writes fail with "No space left on device". One statfs call: cheap enough for
 * every heartbeat, unlike the walk of the data directory.
 */
export async function volumeStats(mountPoint: string): Promise<FilesystemStats> {
  const s = await statfs(mountPoint)
  const total = s.blocks * s.bsize
  return { used: toGb((s.blocks - s.bfree) * s.bsize), total: Math.round((total / GB) * 100) / 100, free: s.bavail * s.bsize }
}
