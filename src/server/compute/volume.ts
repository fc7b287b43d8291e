import { execFile } from 'node:child_process'
import { constants, type Stats } from 'node:fs'
import { lstat, mkdir, open, realpath, rename, rmdir, statfs, unlink } from 'node:fs/promises'
import { basename, dirname, join, sep } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { promisify } from 'node:util'
import { GB } from '../../common/units.js'

/**
 * An instance's volume (docs/isolation.md): a sparse ext4 image `<dir>/volume.img` attached to a
 * loop device and mounted nosuid,nodev where the driver says, its root owned by the instance's
 * uid/gid, mode 0700. A real filesystem, so "disk full" happens to the engine, and resize volume
 * is a grow (truncate, `losetup -c`, `resize2fs`): online where the host allows it (see growVolume).
 *
 * The loop device is attached with `losetup --find --show` rather than `mount -o loop`: the driver
 * needs the device's name for the online grow (`losetup -c`, `resize2fs`) and for an undo or a
 * sweep that finds it by its backing file; and losetup sets direct I/O, so each block of the
 * volume is cached once (in the instance's filesystem), not twice (there and in the image file's
 * pages on the host), which the per-instance memory budget needs.
 *
 * mkfs.ext4 runs on the fresh sparse file: it "discards" it (punches holes), knows the blocks read
 * back as zeros and marks every inode table zeroed, so the kernel's lazy init thread has nothing to
 * write at mount (dumpe2fs shows ITABLE_ZEROED on every group); a 1 GB image holds ~33 MB after mkfs.
 *
 * Everything here runs as root on paths the driver created: every directory above the image and
 * the mount point must be root's and writable by no one else (or sticky), and the image and the
 * mount point themselves are checked with lstat and opened with O_NOFOLLOW, so nothing inside an
 * instance can redirect a root write. A tenant never sees these paths: its volume is bound into
 * its sandbox.
 */

export interface VolumePaths {
  /** The sparse image file, e.g. `<instance dir>/volume.img`. */
  image: string
  /** Where the filesystem is mounted on the host, e.g. `<instance dir>/mnt`. */
  mountPoint: string
}

export interface Volume extends VolumePaths {
  /** The loop device, e.g. /dev/loop3. */
  device: string
  sizeBytes: number
}

/** The programs run (tests point one at a failing script to provoke a failure half-way). */
export interface VolumeTools {
  losetup: string
  mkfs: string
  mount: string
  umount: string
  resize2fs: string
  findmnt: string
  e2fsck: string
  dumpe2fs: string
}

const TOOLS: VolumeTools = {
  losetup: 'losetup',
  mkfs: 'mkfs.ext4',
  mount: 'mount',
  umount: 'umount',
  resize2fs: 'resize2fs',
  findmnt: 'findmnt',
  e2fsck: 'e2fsck',
  dumpe2fs: 'dumpe2fs',
}

export interface CreateVolumeOptions extends VolumePaths {
  sizeBytes: number
  uid: number
  gid: number
  tools?: Partial<VolumeTools>
}

export interface VolumeUsage {
  usedBytes: number
  totalBytes: number
  freeBytes: number
}

const run = promisify(execFile)

/** Runs a tool; a failure becomes one line: the tool's name and its stderr's last line. */
async function tool(file: string, args: string[], okCodes: number[] = [0]): Promise<string> {
  try {
    return (await run(file, args, { encoding: 'utf8', maxBuffer: 4 << 20 })).stdout
  } catch (e) {
    const err = e as { code?: number | string; stdout?: string; stderr?: string; message: string }
    if (typeof err.code === 'number' && okCodes.includes(err.code)) return err.stdout ?? ''
    const name = basename(file)
    // Tools start their messages with their own name ("losetup: ..."): said once. e2fsck ends with a
    // bare "Cannot continue, aborting." on stderr: the line before it (on stderr, or stdout) says why.
    const lines = (s?: string) =>
      (s ?? '')
        .trim()
        .split('\n')
        .map((l) => l.trim().replace(new RegExp(`^${name}: `), ''))
        .filter(Boolean)
    const stderr = lines(err.stderr)
    let last = stderr.pop()
    const why = stderr.pop() ?? lines(err.stdout).pop()
    if (last && /^cannot continue/i.test(last) && why) last = `${why} (${last})`
    throw new Error(`${name}: ${last || err.message.split('\n')[0]}`)
  }
}

const MB = 1024 ** 2

/** "12 GB", "7.3 GB", "64 MB": the figures of a refusal. */
export function formatSize(bytes: number): string {
  return bytes >= GB ? `${Number((bytes / GB).toFixed(1))} GB` : `${Number((bytes / MB).toFixed(1))} MB`
}

const errno = (e: unknown) => (e as NodeJS.ErrnoException).code

/**
 * `path`'s directory resolved, refused unless every directory from / down to it is root's (this
 * process's uid) and writable by no one else, or sticky (/tmp): then no other user can swap an
 * entry under it between a check and a use. Returns `path` under the resolved directory.
 */
async function securePath(path: string): Promise<string> {
  let dir: string
  try {
    dir = await realpath(dirname(path))
  } catch (e) {
    throw new Error(`volume path ${path}: ${errno(e) === 'ENOENT' ? 'its directory does not exist' : (e as Error).message}`)
  }
  const uid = process.geteuid?.() ?? 0
  const parts = dir.split(sep).filter(Boolean)
  for (let i = 0; i <= parts.length; i++) {
    const d = sep + parts.slice(0, i).join(sep)
    const st = await lstat(d)
    // group/other write without the sticky bit (0o1000: not in fs.constants)
    const othersWrite = (st.mode & 0o022) !== 0 && (st.mode & 0o1000) === 0
    if (!st.isDirectory() || st.uid !== uid || othersWrite) throw new Error(`volume path ${path} refused: ${d} is not a directory only root can write to`)
  }
  return join(dir, basename(path))
}

async function lstatOrUndefined(path: string): Promise<Stats | undefined> {
  try {
    return await lstat(path)
  } catch (e) {
    if (errno(e) === 'ENOENT') return undefined
    throw e
  }
}

function refuseSymlink(path: string, st: Stats | undefined): void {
  if (st?.isSymbolicLink()) throw new Error(`volume path ${path} refused: it is a symbolic link (not followed)`)
}

/** The free space for new data on the filesystem holding `dir` (df's Avail). */
async function freeBytes(dir: string): Promise<number> {
  const s = await statfs(dir)
  return s.bavail * s.bsize
}

async function refuseOverFree(dir: string, wanted: number, what: string): Promise<void> {
  const free = await freeBytes(dir)
  if (wanted > free) throw new Error(`${what} of ${formatSize(wanted)} refused: ${formatSize(free)} free on ${dir}`)
}

/** Loop devices and their backing files (a deleted file's name without losetup's " (deleted)"). */
async function loopDevices(losetup: string): Promise<Array<{ device: string; file: string; deleted: boolean }>> {
  const out = await tool(losetup, ['--list', '--json', '--output', 'NAME,BACK-FILE'])
  if (!out.trim()) return []
  const list = (JSON.parse(out) as { loopdevices?: Array<{ name: string; 'back-file': string | null }> }).loopdevices ?? []
  return list
    .filter((l) => l['back-file'])
    .map((l) => {
      const f = l['back-file']!
      const deleted = f.endsWith(' (deleted)')
      return { device: l.name, file: deleted ? f.slice(0, -' (deleted)'.length) : f, deleted }
    })
}

/** Mounts on this host (this mount namespace): target and source device. */
async function mounts(findmnt: string): Promise<Array<{ target: string; source: string }>> {
  const out = await tool(findmnt, ['--json', '--list', '--output', 'TARGET,SOURCE'])
  return (JSON.parse(out) as { filesystems: Array<{ target: string; source: string }> }).filesystems
}

/** Umounts every mount of `devices` or at `target` (stacked mounts included), innermost first. */
async function umountAll(t: VolumeTools, devices: string[], target?: string): Promise<string[]> {
  const done: string[] = []
  for (;;) {
    const m = (await mounts(t.findmnt)).filter((x) => devices.includes(x.source) || x.target === target).pop()
    if (!m) return done
    await tool(t.umount, [m.target])
    done.push(m.target)
  }
}

/**
 * Creates, attaches and mounts a volume of `sizeBytes`, its root owned by uid:gid mode 0700. Refused
 * before anything is made when a path is a symlink or in a directory others can write to, when the
 * image exists, or when the size exceeds the free space; a failure half-way undoes every step.
 */
export async function createVolume(o: CreateVolumeOptions): Promise<Volume> {
  const t = { ...TOOLS, ...o.tools }
  if (!Number.isSafeInteger(o.sizeBytes) || o.sizeBytes <= 0 || o.sizeBytes % 4096) throw new Error(`volume size ${o.sizeBytes} refused: a positive multiple of 4096 bytes`)
  const image = await securePath(o.image)
  const mountPoint = await securePath(o.mountPoint)
  const imageSt = await lstatOrUndefined(image)
  refuseSymlink(image, imageSt)
  if (imageSt) throw new Error(`volume image ${image} already exists`)
  const mpSt = await lstatOrUndefined(mountPoint)
  refuseSymlink(mountPoint, mpSt)
  if (mpSt && !mpSt.isDirectory()) throw new Error(`volume mount point ${mountPoint} refused: not a directory`)
  await refuseOverFree(dirname(image), o.sizeBytes, 'volume')

  const undo: Array<() => Promise<unknown>> = []
  try {
    const fh = await open(image, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600)
    undo.push(() => unlink(image))
    try {
      await fh.truncate(o.sizeBytes)
    } finally {
      await fh.close()
    }
    await tool(t.mkfs, ['-q', '-F', '-m', '0', image])
    const device = (await tool(t.losetup, ['--find', '--show', '--direct-io=on', image])).trim()
    undo.push(() => tool(t.losetup, ['--detach', device]))
    if (!mpSt) {
      await mkdir(mountPoint, { mode: 0o700 })
      undo.push(() => rmdir(mountPoint))
    }
    await tool(t.mount, ['-t', 'ext4', '-o', 'nosuid,nodev', device, mountPoint])
    undo.push(() => tool(t.umount, [mountPoint]))
    await ownVolumeRoot(mountPoint, o.uid, o.gid)
    return { image, mountPoint, device, sizeBytes: o.sizeBytes }
  } catch (e) {
    for (const step of undo.reverse()) await step().catch(() => {})
    throw e
  }
}

/**
 * Moves a volume made elsewhere (a pool's: sandbox-pool.ts), attached and mounted, to `to`: its mount first
 * (`mount --move`; where the parent mount is shared, which refuses a move, umount and mount again), then its image
 * (a rename: the loop device follows the file). `to.mountPoint` is made (0700) and must not exist; `to.image` neither.
 */
export async function moveVolume(from: VolumePaths, to: VolumePaths, device: string, tools?: Partial<VolumeTools>): Promise<void> {
  const t = { ...TOOLS, ...tools }
  const image = await securePath(to.image)
  const mountPoint = await securePath(to.mountPoint)
  if (await lstatOrUndefined(image)) throw new Error(`volume image ${image} already exists`)
  await mkdir(mountPoint, { mode: 0o700 })
  try {
    await tool(t.mount, ['--move', from.mountPoint, mountPoint])
  } catch {
    await tool(t.umount, [from.mountPoint])
    await tool(t.mount, ['-t', 'ext4', '-o', 'nosuid,nodev', device, mountPoint])
  }
  await rmdir(from.mountPoint).catch(() => {})
  await rename(from.image, image)
}

/** The mounted volume's root made uid:gid's, mode 0700 (opened without following a link). */
export async function ownVolumeRoot(mountPoint: string, uid: number, gid: number): Promise<void> {
  const root = await open(mountPoint, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW)
  try {
    await root.chown(uid, gid)
    await root.chmod(0o700)
  } finally {
    await root.close()
  }
}

/** What exists of a volume: its loop devices, whether it is mounted, and its image's size. */
export async function inspectVolume(p: VolumePaths, tools?: Partial<VolumeTools>): Promise<{ devices: string[]; mounted: boolean; sizeBytes?: number }> {
  const t = { ...TOOLS, ...tools }
  const image = await securePath(p.image)
  const mountPoint = await securePath(p.mountPoint)
  const devices = (await loopDevices(t.losetup)).filter((l) => l.file === image && !l.deleted).map((l) => l.device)
  const mounted = (await mounts(t.findmnt)).some((m) => m.target === mountPoint)
  const st = await lstatOrUndefined(image)
  return { devices, mounted, sizeBytes: st?.isFile() ? st.size : undefined }
}

/** The loop device attached to `image` (not one left backing a deleted file of that name). */
async function attached(t: VolumeTools, image: string): Promise<string | undefined> {
  return (await loopDevices(t.losetup)).find((l) => l.file === image && !l.deleted)?.device
}

/** The filesystem's size in blocks, from its superblock (dumpe2fs -h). */
async function blockCount(t: VolumeTools, target: string): Promise<number> {
  return Number(/^Block count:\s+(\d+)/m.exec(await tool(t.dumpe2fs, ['-h', target]))?.[1])
}

/** The filesystem's size in bytes, from its superblock (dumpe2fs -h: block count times block size). */
async function filesystemBytes(t: VolumeTools, target: string): Promise<number> {
  const h = await tool(t.dumpe2fs, ['-h', target])
  return Number(/^Block count:\s+(\d+)/m.exec(h)?.[1]) * Number(/^Block size:\s+(\d+)/m.exec(h)?.[1])
}

/**
 * Attaches (if need be) and mounts an existing volume, e.g. after a host reboot or an offline grow;
 * does nothing to what is already attached and mounted.
 */
export async function mountVolume(p: VolumePaths, tools?: Partial<VolumeTools>): Promise<Volume> {
  const t = { ...TOOLS, ...tools }
  const image = await securePath(p.image)
  const mountPoint = await securePath(p.mountPoint)
  const st = await lstatOrUndefined(image)
  refuseSymlink(image, st)
  if (!st?.isFile()) throw new Error(`volume image ${image} does not exist`)
  const mp = await lstatOrUndefined(mountPoint)
  refuseSymlink(mountPoint, mp)
  let device = await attached(t, image)
  const undo: Array<() => Promise<unknown>> = []
  try {
    if (!device) {
      const d = (await tool(t.losetup, ['--find', '--show', '--direct-io=on', image])).trim()
      undo.push(() => tool(t.losetup, ['--detach', d]))
      device = d
    }
    if (!(await mounts(t.findmnt)).some((m) => m.target === mountPoint && m.source === device)) {
      if (!mp) {
        await mkdir(mountPoint, { mode: 0o700 })
        undo.push(() => rmdir(mountPoint))
      }
      await tool(t.mount, ['-t', 'ext4', '-o', 'nosuid,nodev', device, mountPoint])
    }
    return { image, mountPoint, device, sizeBytes: st.size }
  } catch (e) {
    for (const step of undo.reverse()) await step().catch(() => {})
    throw e
  }
}

/** Umounts a volume from the host, keeping its loop device (the instance must be stopped: a busy mount is an error). */
export async function unmountVolume(p: VolumePaths, tools?: Partial<VolumeTools>): Promise<void> {
  const t = { ...TOOLS, ...tools }
  const image = await securePath(p.image)
  const device = await attached(t, image)
  await umountAll(t, device ? [device] : [], await securePath(p.mountPoint))
}

export interface GrowOptions {
  tools?: Partial<VolumeTools>
  /**
   * How long an offline grow waits for a device "in use" to be freed (default 5 s): a new mount
   * namespace (a sandbox being set up by runc, `ip netns exec`, `unshare -m`) starts with a copy of
   * every mount of the host, this volume's included, until it drops them.
   */
  busyTimeoutMs?: number
}

/** Runs `step` again while it fails because the device is in use, up to `timeoutMs`; then its error. */
async function untilFree<T>(step: () => Promise<T>, timeoutMs: number): Promise<T> {
  const end = Date.now() + timeoutMs
  for (let every = 20; ; every = Math.min(every * 2, 500)) {
    try {
      return await step()
    } catch (e) {
      if (!/ is in use\./.test((e as Error).message) || Date.now() + every > end) throw e
      await sleep(every)
    }
  }
}

/**
 * Grows a volume to `newSizeBytes`: the image is extended, the loop device told (`losetup -c`) and
 * the filesystem grown by `resize2fs`. Mounted, the grow is online; ext4's online resize needs
 * CAP_SYS_RESOURCE, which some hosts withhold from root (this lab's container does): then it is
 * refused with that said, and the driver grows it offline: instance stopped, `unmountVolume`, this,
 * `mountVolume`. Offline, `e2fsck -f -p` runs first (resize2fs wants a checked filesystem); both open
 * the device exclusively, so a filesystem still mounted anywhere (another mount namespace) makes them
 * fail rather than be resized under its user. A shrink is refused; the same size is a no-op. When a
 * step fails before the filesystem grew, the image is cut back to its size.
 */
export async function growVolume(p: VolumePaths, newSizeBytes: number, opts: GrowOptions = {}): Promise<Volume> {
  const t = { ...TOOLS, ...opts.tools }
  if (!Number.isSafeInteger(newSizeBytes) || newSizeBytes <= 0 || newSizeBytes % 4096) throw new Error(`volume size ${newSizeBytes} refused: a positive multiple of 4096 bytes`)
  const image = await securePath(p.image)
  const mountPoint = await securePath(p.mountPoint)
  refuseSymlink(image, await lstatOrUndefined(image))
  const device = await attached(t, image)
  const online = !!device && (await mounts(t.findmnt)).some((m) => m.source === device)
  const fh = await open(image, constants.O_WRONLY | constants.O_NOFOLLOW)
  try {
    const old = (await fh.stat()).size
    if (newSizeBytes < old) throw new Error(`volume shrink refused: ${formatSize(old)} to ${formatSize(newSizeBytes)} (a volume only grows)`)
    const vol = { image, mountPoint, device: device ?? '', sizeBytes: newSizeBytes }
    const target = device ?? image
    // The same size: nothing to do, unless a grow was cut short after the image was extended (a server
    // killed before resize2fs): then the filesystem is still smaller than its image and the grow goes on.
    if (newSizeBytes === old && (await filesystemBytes(t, target)) >= old) return vol
    await refuseOverFree(dirname(image), newSizeBytes - old, 'volume growth')
    const blocksBefore = await blockCount(t, target)
    await fh.truncate(newSizeBytes)
    try {
      if (device) await tool(t.losetup, ['--set-capacity', device])
      // e2fsck -p exits 1 when it corrected something: the filesystem is then fine to resize.
      if (!online) await untilFree(() => tool(t.e2fsck, ['-f', '-p', target], [0, 1]), opts.busyTimeoutMs ?? 5000)
      await tool(t.resize2fs, [target])
    } catch (e) {
      if ((await blockCount(t, target).catch(() => undefined)) === blocksBefore) {
        await fh.truncate(old)
        if (device) await tool(t.losetup, ['--set-capacity', device]).catch(() => {})
      }
      if (online && /Permission denied to resize/.test((e as Error).message))
        throw new Error(`resize2fs: online resize refused: this host's root lacks CAP_SYS_RESOURCE; stop the instance, unmount the volume and grow it offline`)
      throw e
    }
    return vol
  } finally {
    await fh.close()
  }
}

/** Used, total and free bytes of a mounted volume as df shows them (statfs: Size, Used, Avail). */
export async function volumeUsage(mountPoint: string): Promise<VolumeUsage> {
  // Not mounted, statfs would answer for the host's filesystem: a mount point is on another device than its parent.
  const [here, parent] = await Promise.all([lstat(mountPoint), lstat(dirname(mountPoint))])
  if (!here.isDirectory() || here.dev === parent.dev) throw new Error(`volume at ${mountPoint} is not mounted`)
  const s = await statfs(mountPoint)
  return { totalBytes: s.blocks * s.bsize, usedBytes: (s.blocks - s.bfree) * s.bsize, freeBytes: s.bavail * s.bsize }
}

/**
 * Umounts, detaches and removes a volume: whatever of it exists (after a crash, part of it), so
 * calling it again, or on a volume never made, does nothing. The mount point directory is removed
 * when empty.
 */
export async function destroyVolume(p: VolumePaths, tools?: Partial<VolumeTools>): Promise<void> {
  const t = { ...TOOLS, ...tools }
  const image = await securePath(p.image)
  const mountPoint = await securePath(p.mountPoint)
  const devices = (await loopDevices(t.losetup)).filter((l) => l.file === image).map((l) => l.device)
  await umountAll(t, devices, mountPoint)
  for (const d of devices) await tool(t.losetup, ['--detach', d])
  await unlink(image).catch((e) => {
    if (errno(e) !== 'ENOENT') throw e
  })
  await rmdir(mountPoint).catch((e) => {
    if (errno(e) !== 'ENOENT' && errno(e) !== 'ENOTEMPTY') throw e
  })
}

/**
 * Removes the leftovers of a crashed run under `dir` (this lab's instances): every loop device whose
 * backing file lies under `dir` (deleted or not) and is not one of the `keep` images is umounted,
 * detached and its image removed. Devices backing files elsewhere (other labs) are not touched.
 * Returns the images swept.
 */
export async function sweepVolumes(dir: string, keep: Iterable<string>, tools?: Partial<VolumeTools>): Promise<string[]> {
  const t = { ...TOOLS, ...tools }
  const root = await realpath(dir)
  const kept = new Set<string>()
  for (const k of keep) kept.add(await securePath(k).catch(() => k))
  const swept: string[] = []
  for (const l of await loopDevices(t.losetup)) {
    if (!l.file.startsWith(root + sep) || (kept.has(l.file) && !l.deleted)) continue
    await umountAll(t, [l.device])
    await tool(t.losetup, ['--detach', l.device])
    if (!l.deleted) {
      // An image in a directory others may write to is left where it is (never unlinked through a swapped path).
      const file = await securePath(l.file).catch(() => undefined)
      const st = file ? await lstatOrUndefined(file) : undefined
      if (file && st?.isFile()) await unlink(file)
    }
    swept.push(l.file)
  }
  return swept
}
