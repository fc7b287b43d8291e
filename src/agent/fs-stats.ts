import { lstat, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import type { FilesystemStats } from '../protocol/index.js'

const GB = 1024 ** 3

/**
 * Bytes a directory tree occupies on disk (allocated blocks, like du, so sparse files
 * count for what they really use). Files that vanish during the walk are skipped: the
 * engine keeps writing while we count.
 */
export async function diskUsage(path: string): Promise<number> {
  const st = await lstat(path).catch(() => undefined)
  if (!st) return 0
  let total = st.blocks * 512
  if (!st.isDirectory()) return total
  const names = await readdir(path).catch(() => [] as string[])
  const sizes = await Promise.all(names.map((n) => diskUsage(join(path, n))))
  for (const s of sizes) total += s
  return total
}

/** Upstream's to_gb: two decimals, and never 0.0 for a non-empty volume. */
export function toGb(bytes: number): number {
  if (bytes <= 0) return 0
  return Math.max(Math.round((bytes / GB) * 100) / 100, 0.01)
}

/** get_filesystem_stats: usage of the data dir against the volume size. */
export async function filesystemStats(dataDir: string, volumeSizeGb: number): Promise<FilesystemStats> {
  const used = await diskUsage(dataDir)
  return { used: toGb(used), total: volumeSizeGb, free: Math.max(volumeSizeGb * GB - used, 0) }
}
