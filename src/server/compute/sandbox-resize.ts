import { execFile } from 'node:child_process'
import { lstatSync, readFileSync, statfsSync } from 'node:fs'
import { dirname } from 'node:path'
import { promisify } from 'node:util'
import type { SandboxLimits } from './oci-config.js'
import { destroySandbox, type SandboxRuntime } from './sandbox.js'
import { formatSize, growVolume, unmountVolume, type VolumePaths } from './volume.js'

/**
 * Resizes of a sandboxed instance (docs/isolation.md), done by the server as root on the parts it made:
 * the volume's image, loop device and filesystem, and the sandbox's cgroup limits. Nothing here walks a
 * path inside the instance.
 */

const run = promisify(execFile)

/** CAP_SYS_RESOURCE (linux/capability.h): ext4's online resize (EXT4_IOC_RESIZE_FS) requires it of the caller. */
const CAP_SYS_RESOURCE = 24

/**
 * Whether this process may grow a mounted ext4 (its effective capabilities, /proc/self/status CapEff).
 * Root in a container is often without CAP_SYS_RESOURCE (this lab's is): then resize2fs on a mounted
 * filesystem fails with "Permission denied to resize filesystem", and the grow has to be offline.
 */
export function canGrowOnline(status = readFileSync('/proc/self/status', 'utf8')): boolean {
  const hex = /^CapEff:\s*([0-9a-f]+)$/m.exec(status)?.[1]
  return hex !== undefined && ((BigInt(`0x${hex}`) >> BigInt(CAP_SYS_RESOURCE)) & 1n) === 1n
}

/**
 * Why growing the volume at `paths` to `sizeBytes` cannot be done (undefined: it can): a shrink, or more
 * than the free space of the filesystem holding its image (the image is sparse: the growth is what the
 * host must have room for). Checked before anything is stopped or changed; growVolume checks again.
 */
export function volumeGrowthProblem(paths: VolumePaths, sizeBytes: number): string | undefined {
  const old = lstatSync(paths.image).size
  if (sizeBytes < old) return `a volume only grows (${formatSize(old)} now, ${formatSize(sizeBytes)} asked)`
  const s = statfsSync(dirname(paths.image))
  const free = s.bavail * s.bsize
  if (sizeBytes - old > free) return `it needs ${formatSize(sizeBytes - old)} more on the host, which has ${formatSize(free)} free`
  return undefined
}

export interface GrowSandboxVolume {
  id: string
  runtime: SandboxRuntime
  bundleDir: string
  paths: VolumePaths
  sizeBytes: number
  /** Stops the engine and the agent cleanly (the agent's shutdown_agent): an offline grow needs the volume unused. */
  stopGuest: () => Promise<void>
  /** Mounts the volume and starts the sandbox and its agent again (which starts the engine). */
  restart: () => Promise<unknown>
  log: (m: string) => void
  /** Whether an online grow may be tried (default: canGrowOnline()). */
  online?: boolean
}

/**
 * Grows a sandboxed instance's volume. Online when this process holds CAP_SYS_RESOURCE: the image is
 * extended, the loop device refreshed (`losetup -c`) and the mounted ext4 grown by `resize2fs` while
 * the engine runs. Without it (this lab's container) the grow is offline: the guest stopped, the
 * sandbox ended (its mount namespace holds the volume too), the volume unmounted, checked (`e2fsck -f`)
 * and grown, then mounted and the sandbox started again; the engine is down for that time. A failure
 * after the guest stopped still starts it again on the volume as it is (growVolume cuts the image
 * back when the filesystem did not grow), then throws.
 */
export async function growSandboxVolume(o: GrowSandboxVolume): Promise<{ online: boolean }> {
  const problem = volumeGrowthProblem(o.paths, o.sizeBytes)
  if (problem) throw new Error(`volume resize to ${formatSize(o.sizeBytes)} refused: ${problem}`)
  if (o.online ?? canGrowOnline()) {
    await growVolume(o.paths, o.sizeBytes)
    return { online: true }
  }
  const t0 = performance.now()
  await o.stopGuest()
  let failure: Error | undefined
  try {
    await destroySandbox(o.runtime, o.id, o.bundleDir)
    await unmountVolume(o.paths)
    // A mount namespace still ending (the sandbox's, a zombie not yet reaped) keeps the device busy a while.
    await growVolume(o.paths, o.sizeBytes, { busyTimeoutMs: 30_000 })
  } catch (e) {
    failure = e as Error
  }
  await o.restart()
  o.log(
    `instance ${o.id}: volume grown offline to ${formatSize(o.sizeBytes)}${failure ? ' FAILED' : ''}: sandbox down ${Math.round(performance.now() - t0)} ms (no CAP_SYS_RESOURCE for an online grow)`,
  )
  if (failure) throw failure
  return { online: false }
}

/** runc update's arguments for the sandbox's limits (runc writes the v1 or v2 files, whichever the host has). */
export function runcUpdateArgs(id: string, l: Required<Pick<SandboxLimits, 'memoryBytes' | 'cpus' | 'pids'>>): string[] {
  const period = 100_000
  return [
    'update',
    '--memory',
    String(l.memoryBytes),
    // memory + swap: the same figure, no swap beyond the limit (as at create, oci-config.ts)
    '--memory-swap',
    String(l.memoryBytes),
    '--cpu-period',
    String(period),
    '--cpu-quota',
    String(Math.round(l.cpus * period)),
    '--pids-limit',
    String(l.pids),
    id,
  ]
}

/**
 * Sets a running sandbox's memory, CPU and pids limits (`runc update`): runc maps them to the cgroup v1
 * files (memory.limit_in_bytes, memory.memsw.limit_in_bytes, cpu.cfs_quota_us, pids.max) or v2's
 * (memory.max, memory.swap.max, cpu.max, pids.max) as at create. Fails with runc's one line, e.g. a
 * memory limit below what the sandbox uses (the kernel's EBUSY on v1).
 */
export async function updateSandboxLimits(rt: SandboxRuntime, id: string, l: Required<Pick<SandboxLimits, 'memoryBytes' | 'cpus' | 'pids'>>): Promise<void> {
  try {
    await run(rt.runc ?? 'runc', ['--root', rt.root, ...runcUpdateArgs(id, l)], { encoding: 'utf8', timeout: 60_000 })
  } catch (e) {
    const err = e as { stderr?: string; message: string }
    const line = (err.stderr ?? '').trim().split('\n').filter(Boolean).pop() ?? err.message.split('\n')[0]
    throw new Error(`runc update: ${line}`)
  }
}
