import { lstat, readdir } from 'node:fs/promises'
import { join } from 'node:path'

/**
 * Bytes a directory tree occupies on disk (allocated blocks, like du, so sparse files
 * count for what they really use). Entries that vanish during the walk are skipped: the
 * engine keeps writing while we count. Hand-written: the folder-size packages add up
 * apparent sizes (st.size), which overstate a sparse file, and stop on a vanished entry.
 */
export async function diskUsage(path: string): Promise<number> {
  const st = await lstat(path).catch(() => undefined)
  if (!st) return 0
  let total = st.blocks * 512
  if (!st.isDirectory()) return total
  const names = await readdir(path).catch(() => [] as string[])
  for (const size of await Promise.all(names.map((n) => diskUsage(join(path, n))))) total += size
  return total
}
