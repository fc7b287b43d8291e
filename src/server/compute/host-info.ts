import { lstat, readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'

/** Upstream's guest diagnostics, measured on a process of this host (sizes in kB, as /proc gives them). */
export interface ProcessDiagnostics {
  threads: number
  /** Slots of the process's file descriptor table (FDSize). */
  fdSize: number
  /** Descriptors open right now (entries of /proc/<pid>/fd). */
  openFds: number
  vmSize: number
  vmPeak: number
  vmRss: number
  vmHwm: number
}

/** Reads /proc/<pid>/status and /proc/<pid>/fd; undefined when the process is gone. */
export async function processDiagnostics(pid: number): Promise<ProcessDiagnostics | undefined> {
  let status: string
  let fds: string[]
  try {
    ;[status, fds] = await Promise.all([readFile(`/proc/${pid}/status`, 'utf8'), readdir(`/proc/${pid}/fd`)])
  } catch {
    return undefined
  }
  const field = (name: string): number => {
    const m = new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)
    return m ? Number(m[1]) : 0
  }
  return {
    threads: field('Threads'),
    fdSize: field('FDSize'),
    openFds: fds.length,
    vmSize: field('VmSize'),
    vmPeak: field('VmPeak'),
    vmRss: field('VmRSS'),
    vmHwm: field('VmHWM'),
  }
}

/**
 * Bytes a directory tree occupies on disk (allocated blocks, like du). Entries that
 * vanish during the walk are skipped: the engine keeps writing while we count.
 */
export async function directoryUsage(path: string): Promise<number> {
  const st = await lstat(path).catch(() => undefined)
  if (!st) return 0
  let total = st.blocks * 512
  if (!st.isDirectory()) return total
  const names = await readdir(path).catch(() => [] as string[])
  for (const size of await Promise.all(names.map((n) => directoryUsage(join(path, n))))) total += size
  return total
}

/** Upstream's to_gb: two decimals, and never 0.0 for something non-empty. */
export function toGb(bytes: number): number {
  if (bytes <= 0) return 0
  return Math.max(Math.round((bytes / 1024 ** 3) * 100) / 100, 0.01)
}
