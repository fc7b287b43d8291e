import { readdir, readFile } from 'node:fs/promises'

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
