import type { FilesystemStats } from '../protocol/index.js'
import { diskUsage } from '../common/disk-usage.js'
import { GB, toGb } from '../common/units.js'

/** get_filesystem_stats: usage of the data dir against the volume size. */
export async function filesystemStats(dataDir: string, volumeSizeGb: number): Promise<FilesystemStats> {
  const used = await diskUsage(dataDir)
  return { used: toGb(used), total: volumeSizeGb, free: Math.max(volumeSizeGb * GB - used, 0) }
}
