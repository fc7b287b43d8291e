import t, { type Test } from 'tap'
import { execFile, execFileSync, spawn } from 'node:child_process'
import { once } from 'node:events'
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statfsSync, symlinkSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { createVolume, destroyVolume, growVolume, inspectVolume, mountVolume, sweepVolumes, unmountVolume, volumeUsage, type VolumePaths } from '../../../src/server/compute/volume.js'

const MB = 1024 ** 2
const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })

function missing(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (losetup, mount)'
  for (const [cmd, args] of [
    ['losetup', ['--find']],
    ['mkfs.ext4', ['-V']],
    ['resize2fs', ['-P', '/dev/null']],
  ] as const) {
    try {
      execFileSync(cmd, [...args], { stdio: 'pipe' })
    } catch (e) {
      const err = e as NodeJS.ErrnoException & { stderr?: Buffer }
      if (cmd === 'resize2fs' && err.code !== 'ENOENT') continue // runs, complains about /dev/null: present
      return `${cmd} unusable here (util-linux / e2fsprogs, loop devices): ${String(err.stderr ?? err.message)
        .trim()
        .split('\n')
        .pop()}`
    }
  }
  return undefined
}
/** Whether this process may resize a mounted ext4 (the kernel's online resize wants CAP_SYS_RESOURCE, bit 24). */
const online = ((BigInt(`0x${/^CapEff:\s*(\w+)/m.exec(readFileSync('/proc/self/status', 'utf8'))![1]}`) >> 24n) & 1n) === 1n
const ONLINE_REFUSED = "resize2fs: online resize refused: this host's root lacks CAP_SYS_RESOURCE; stop the instance, unmount the volume and grow it offline"

/** The promise rejects with exactly `message`. */
async function rejectsWith(t: Test, p: Promise<unknown>, message: string, what?: string): Promise<void> {
  const e = await p.then(
    () => undefined,
    (err: Error) => err,
  )
  t.equal(e?.message, message, what ?? `refused: ${message}`)
}

/** A grow as the driver does it: online where the host allows, else stopped, unmounted, grown, mounted. */
async function grow(t: Test, paths: VolumePaths, size: number) {
  if (online) return growVolume(paths, size)
  const before = lstatSync(paths.image).size
  await rejectsWith(t, growVolume(paths, size), ONLINE_REFUSED, 'online grow refused on this host (no CAP_SYS_RESOURCE), said so')
  t.equal(lstatSync(paths.image).size, before, 'the image is cut back')
  await unmountVolume(paths)
  const v = await growVolume(paths, size)
  await mountVolume(paths)
  return v
}

const why = missing()
if (why) t.plan(0, why)

/** Loop devices backing files under `dir` (what must be gone after a test). */
const loopsUnder = (dir: string) =>
  (JSON.parse(sh('losetup', ['--list', '--json', '--output', 'NAME,BACK-FILE']) || '{"loopdevices":[]}').loopdevices as Array<{ 'back-file': string | null }>)
    .map((l) => l['back-file'] ?? '')
    .filter((f) => f.startsWith(`${dir}/`))
const mountsUnder = (dir: string) =>
  readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((m) => m.startsWith(`${dir}/`))

/** A root-owned directory only root writes to (0711: the instance's uid may traverse it, as the sandbox's bind would let it reach its volume), removed with whatever a test left. */
function labDir(t: Test): string {
  const dir = mkdtempSync('/tmp/tv-vol.')
  chmodSync(dir, 0o711)
  t.teardown(async () => {
    await sweepVolumes(dir, []).catch(() => {})
    for (const m of mountsUnder(dir).reverse()) execFileSync('umount', ['-l', m])
    rmSync(dir, { recursive: true, force: true })
  })
  return dir
}

/** A uid/gid of no one on this host, unique to this run. */
const someUid = () => 430000 + Math.floor(Math.random() * 50000)

/** Appends 1 MiB blocks to `file` as uid:gid (a real process of that user) until a write fails; the failure's code and the bytes written. */
async function fillAs(uid: number, gid: number, file: string): Promise<{ code: string; n: number }> {
  const script = `const fs=require('fs');const fd=fs.openSync(process.argv[1],'a');const b=Buffer.alloc(1<<20,7);let n=0;try{for(;;)n+=fs.writeSync(fd,b)}catch(e){console.log(JSON.stringify({code:e.code,n}))}`
  const { stdout } = await promisify(execFile)(process.execPath, ['-e', script, file], { uid, gid, cwd: '/', encoding: 'utf8' })
  return JSON.parse(stdout)
}

const df = (mnt: string) => {
  const [size, used, avail] = sh('df', ['-B1', '--output=size,used,avail', mnt]).trim().split('\n')[1]!.trim().split(/\s+/).map(Number)
  return { totalBytes: size!, usedBytes: used!, freeBytes: avail! }
}

t.test('64 MB volume: owned by the uid, filled to ENOSPC as that uid, grown to 128 MB (online where the host allows), filled again, destroyed without a trace', async (t) => {
  const dir = labDir(t)
  const uid = someUid()
  const paths = { image: join(dir, 'volume.img'), mountPoint: join(dir, 'mnt') }
  const vol = await createVolume({ ...paths, sizeBytes: 64 * MB, uid, gid: uid })
  t.match(vol, { ...paths, sizeBytes: 64 * MB, device: /^\/dev\/loop\d+$/ })
  t.equal(lstatSync(paths.image).size, 64 * MB, 'the image is exactly the size')
  t.ok(lstatSync(paths.image).blocks * 512 < 16 * MB, 'and sparse')
  t.same(await inspectVolume(paths), { devices: [vol.device], mounted: true, sizeBytes: 64 * MB })
  const root = lstatSync(paths.mountPoint)
  t.same([root.uid, root.gid, root.mode & 0o7777], [uid, uid, 0o700], "the root is the instance's, 0700")
  t.match(sh('findmnt', ['--noheadings', '--output', 'SOURCE,OPTIONS', paths.mountPoint]), new RegExp(`^${vol.device} .*\\bnosuid\\b.*\\bnodev\\b`))
  t.same(await volumeUsage(paths.mountPoint), df(paths.mountPoint), 'usage as df shows it')

  const first = await fillAs(uid, uid, join(paths.mountPoint, 'fill'))
  t.equal(first.code, 'ENOSPC', 'the write fails with ENOSPC')
  t.ok(first.n > 50 * MB && first.n <= 64 * MB, `${first.n} bytes written first`)
  const full = await volumeUsage(paths.mountPoint)
  t.ok(full.freeBytes < MB, 'the volume is full')
  t.same(full, df(paths.mountPoint))
  t.ok(statfsSync(dir).bavail > 0, 'the host filesystem is not')

  await rejectsWith(t, growVolume(paths, 32 * MB), 'volume shrink refused: 64 MB to 32 MB (a volume only grows)')
  t.same(await growVolume(paths, 64 * MB), vol, 'the same size: nothing to do')
  const t0 = performance.now()
  const grown = await grow(t, paths, 128 * MB)
  t.comment(`grow 64 -> 128 MB ${online ? 'online' : 'offline (this host withholds CAP_SYS_RESOURCE)'}: ${(performance.now() - t0).toFixed(0)} ms`)
  t.same(grown, { ...vol, sizeBytes: 128 * MB })
  // A grow cut short by a crash after the image was extended, before resize2fs: the image is 160 MB, its
  // filesystem 128 MB; the resumed flow asks for the size the image already has, and the filesystem follows.
  const fsBytes = () => {
    const h = sh('dumpe2fs', ['-h', paths.image])
    return Number(/^Block count:\s+(\d+)/m.exec(h)?.[1]) * Number(/^Block size:\s+(\d+)/m.exec(h)?.[1])
  }
  if (!online) await unmountVolume(paths)
  truncateSync(paths.image, 160 * MB)
  t.equal(fsBytes(), 128 * MB, 'crash between the two steps: the filesystem is smaller than its image')
  await growVolume(paths, 160 * MB)
  t.equal(fsBytes(), 160 * MB, 'the resumed grow grows the filesystem to its image')
  if (!online) await mountVolume(paths)
  t.same(await inspectVolume(paths), { devices: [vol.device], mounted: true, sizeBytes: 160 * MB }, 'mounted again, on the same device')
  t.same(lstatSync(join(paths.mountPoint, 'fill')).size, first.n, 'the data is still there')
  const after = await volumeUsage(paths.mountPoint)
  t.ok(after.totalBytes - full.totalBytes > 56 * MB, `the filesystem grew by ${after.totalBytes - full.totalBytes} bytes`)
  t.same(after, df(paths.mountPoint))
  const second = await fillAs(uid, uid, join(paths.mountPoint, 'fill'))
  t.equal(second.code, 'ENOSPC')
  t.ok(second.n > 56 * MB, `${second.n} more bytes written after the grow`)
  t.same(await volumeUsage(paths.mountPoint), df(paths.mountPoint))

  await destroyVolume(paths)
  t.equal(sh('losetup', ['-j', paths.image]), '', 'no loop device left')
  t.same(mountsUnder(dir), [], 'no mount left')
  t.same(readdirSync(dir), [], 'no image, no mount point')
  await destroyVolume(paths)
  t.pass('destroy again: nothing to do')
})

t.test('destroy after a crash: half-way through an earlier destroy, or right after the image was made', async (t) => {
  const dir = labDir(t)
  const paths = { image: join(dir, 'volume.img'), mountPoint: join(dir, 'mnt') }
  await createVolume({ ...paths, sizeBytes: 8 * MB, uid: 0, gid: 0 })
  execFileSync('umount', [paths.mountPoint])
  t.same((await inspectVolume(paths)).mounted, false)
  await rejectsWith(t, volumeUsage(paths.mountPoint), `volume at ${paths.mountPoint} is not mounted`, "no usage of the host's filesystem for an unmounted volume")
  await destroyVolume(paths)
  t.same(loopsUnder(dir), [])
  t.same(readdirSync(dir), [])
  // A crash right after the image was made: nothing attached, nothing mounted.
  writeFileSync(paths.image, '')
  mkdirSync(paths.mountPoint)
  await destroyVolume(paths)
  t.same(readdirSync(dir), [], 'the image and the mount point are removed')
})

t.test('refused before anything is made: over the free space, symlinks, an existing image, a bad size, a directory others write to', async (t) => {
  const dir = labDir(t)
  const paths = { image: join(dir, 'volume.img'), mountPoint: join(dir, 'mnt') }
  const free = statfsSync(dir).bavail * statfsSync(dir).bsize
  const big = await createVolume({ ...paths, sizeBytes: free + 1024 ** 3, uid: 1, gid: 1 }).catch((e: Error) => e)
  t.match(big, { message: new RegExp(`^volume of [\\d.]+ GB refused: [\\d.]+ GB free on ${dir}$`) })
  t.comment((big as Error).message)
  t.same(readdirSync(dir), [], 'nothing made')

  const outside = mkdtempSync('/tmp/tv-vol-outside.')
  t.teardown(() => rmSync(outside, { recursive: true, force: true }))
  writeFileSync(join(outside, 'victim'), 'keep me')
  symlinkSync(join(outside, 'victim'), paths.image)
  await rejectsWith(t, createVolume({ ...paths, sizeBytes: 8 * MB, uid: 1, gid: 1 }), `volume path ${paths.image} refused: it is a symbolic link (not followed)`)
  t.equal(readFileSync(join(outside, 'victim'), 'utf8'), 'keep me', 'the target is untouched')
  unlinkSync(paths.image)

  symlinkSync(outside, paths.mountPoint)
  await rejectsWith(t, createVolume({ ...paths, sizeBytes: 8 * MB, uid: 1, gid: 1 }), `volume path ${paths.mountPoint} refused: it is a symbolic link (not followed)`)
  t.same(mountsUnder(outside), [], 'nothing mounted through it')
  t.same(readdirSync(outside), ['victim'])
  unlinkSync(paths.mountPoint)
  t.same(readdirSync(dir), [], 'nothing made')

  writeFileSync(paths.image, '')
  await rejectsWith(t, createVolume({ ...paths, sizeBytes: 8 * MB, uid: 1, gid: 1 }), `volume image ${paths.image} already exists`)
  unlinkSync(paths.image)
  await rejectsWith(t, createVolume({ ...paths, sizeBytes: 1000, uid: 1, gid: 1 }), 'volume size 1000 refused: a positive multiple of 4096 bytes')

  const open = join(dir, 'open')
  mkdirSync(open)
  chmodSync(open, 0o777)
  await rejectsWith(
    t,
    createVolume({ image: join(open, 'volume.img'), mountPoint: join(dir, 'mnt'), sizeBytes: 8 * MB, uid: 1, gid: 1 }),
    `volume path ${join(open, 'volume.img')} refused: ${open} is not a directory only root can write to`,
  )
  t.same(readdirSync(dir), ['open'])
  t.same(loopsUnder(dir), [])
})

t.test('a failure half-way leaves nothing: mkfs refusing the size, a mount that fails, a resize2fs that fails', async (t) => {
  const dir = labDir(t)
  const paths = { image: join(dir, 'volume.img'), mountPoint: join(dir, 'mnt') }
  t.match(await createVolume({ ...paths, sizeBytes: 64 * 1024, uid: 1, gid: 1 }).catch((e: Error) => e), { message: /^mkfs\.ext4: \S/ }, 'mkfs.ext4 refuses 64 KiB')
  t.same(readdirSync(dir), [], 'no image left')

  // The real tools up to the mount, then a mount that fails as mount(8) does: a loop device and a mount point to undo.
  const bin = mkdtempSync('/tmp/tv-vol-bin.')
  t.teardown(() => rmSync(bin, { recursive: true, force: true }))
  for (const name of ['mount', 'resize2fs']) writeFileSync(join(bin, name), `#!/bin/sh\necho "${name}: something went wrong" >&2\necho "${name}: planted failure" >&2\nexit 32\n`, { mode: 0o755 })
  await rejectsWith(t, createVolume({ ...paths, sizeBytes: 8 * MB, uid: 1, gid: 1, tools: { mount: join(bin, 'mount') } }), 'mount: planted failure')
  t.same(loopsUnder(dir), [], 'the loop device is detached')
  t.same(readdirSync(dir), [], 'the image and the mount point are removed')

  const vol = await createVolume({ ...paths, sizeBytes: 8 * MB, uid: 1, gid: 1 })
  const before = await volumeUsage(paths.mountPoint)
  await rejectsWith(t, growVolume(paths, 16 * MB, { tools: { resize2fs: join(bin, 'resize2fs') } }), 'resize2fs: planted failure')
  t.equal(lstatSync(paths.image).size, 8 * MB, 'the image is cut back')
  t.same(await volumeUsage(paths.mountPoint), before, 'the filesystem as it was')
  t.same(await grow(t, paths, 16 * MB), { ...vol, sizeBytes: 16 * MB }, 'and a grow works after it')

  // Offline grow while the filesystem is still mounted in another mount namespace (a sandbox the
  // driver forgot to stop): e2fsck opens the device exclusively and fails; nothing is changed.
  // The holder drops the other volumes of concurrent runs of this test, which its new namespace copied too.
  const drop = `findmnt -rn -o TARGET | grep '^/tmp/tv-vol\\.' | grep -v '^${dir}/' | while read -r m; do umount -l "$m"; done`
  const holder = spawn('unshare', ['--mount', '--propagation', 'private', '--', 'sh', '-c', `${drop}; echo ready; exec cat`], { stdio: ['pipe', 'pipe', 'inherit'] })
  t.teardown(() => holder.kill())
  await once(holder.stdout!, 'data')
  await unmountVolume(paths)
  t.same((await inspectVolume(paths)).mounted, false, 'not mounted here')
  const e = await growVolume(paths, 24 * MB, { busyTimeoutMs: 0 }).catch((err: Error) => err)
  t.match(e, { message: /^e2fsck: \/dev\/loop\d+ is in use\. \(Cannot continue, aborting\.\)$/ }, 'refused: the device is busy elsewhere')
  t.equal(lstatSync(paths.image).size, 16 * MB, 'the image is cut back')
  holder.stdin!.end()
  await once(holder, 'exit')
})

t.test("sweep: this lab's volumes not kept (mounted, or with a deleted image) are removed; kept ones and other labs' stay", async (t) => {
  const lab = labDir(t)
  const other = labDir(t)
  const vols = async (d: string, n: string) => {
    mkdirSync(join(d, n))
    return createVolume({ image: join(d, n, 'volume.img'), mountPoint: join(d, n, 'mnt'), sizeBytes: 8 * MB, uid: 1, gid: 1 })
  }
  // Made at the same time: parallel creates each get a loop device of their own.
  const [kept, gone, deleted, elsewhere] = await Promise.all([vols(lab, 'a1'), vols(lab, 'a2'), vols(lab, 'a3'), vols(other, 'b1')])
  t.equal(new Set([kept, gone, deleted, elsewhere].map((v) => v.device)).size, 4, 'four loop devices')
  unlinkSync(deleted.image)
  const swept = await sweepVolumes(lab, [kept.image])
  t.same(swept.sort(), [gone.image, deleted.image])
  t.same(loopsUnder(lab), [kept.image], 'only the kept one is attached')
  t.same(mountsUnder(lab), [kept.mountPoint], 'and mounted')
  t.same(readdirSync(join(lab, 'a2')), ['mnt'], 'the image of the swept one is removed')
  t.same(loopsUnder(other), [elsewhere.image], 'another lab is not touched')
  t.same(mountsUnder(other), [elsewhere.mountPoint])
  t.same(await sweepVolumes(lab, [kept.image]), [], 'a second sweep finds nothing')
})
