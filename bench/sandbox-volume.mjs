// Set-up times of an instance's volume (issue 14, src/server/compute/volume.ts), as root on real loop
// devices: create (sparse image, mkfs.ext4, losetup, mount, chown) of VOLUME_GB (1) GB, grow to twice
// that (online where the host grants CAP_SYS_RESOURCE, else offline: unmount, e2fsck, resize2fs, mount),
// and destroy; median of VOLUME_RUNS (5). Also the bytes the image holds after create and the groups
// whose inode tables mkfs left for the kernel's lazy init (0: nothing written in the background at
// mount). Prints the figures (the lead gathers the sandbox parts into BENCHMARKS.md).
// Run with `node bench/sandbox-volume.mjs` after a build, as root; the directory is VOLUME_DIR (a
// fresh directory under /tmp), on the filesystem the lab's instances would use.
import { execFileSync } from 'node:child_process'
import { chmodSync, lstatSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { createVolume, destroyVolume, growVolume, mountVolume, unmountVolume } from '../dist/server/compute/volume.js'
import { machine, median } from './lib.mjs'

const GB = 1024 ** 3
const SIZE = Number(process.env.VOLUME_GB ?? 1) * GB
const RUNS = Number(process.env.VOLUME_RUNS ?? 5)
const online = ((BigInt(`0x${/^CapEff:\s*(\w+)/m.exec(readFileSync('/proc/self/status', 'utf8'))[1]}`) >> 24n) & 1n) === 1n

const dir = mkdtempSync(join(process.env.VOLUME_DIR ?? '/tmp', 'trove-bench-vol.'))
chmodSync(dir, 0o711)
const times = { create: [], grow: [], destroy: [] }
let allocated = 0
let lazy = 0
const ms = async (fn) => {
  const t0 = performance.now()
  await fn()
  return performance.now() - t0
}
try {
  for (let i = 0; i < RUNS; i++) {
    const paths = { image: join(dir, 'volume.img'), mountPoint: join(dir, 'mnt') }
    times.create.push(await ms(() => createVolume({ ...paths, sizeBytes: SIZE, uid: 431000, gid: 431000 })))
    allocated = lstatSync(paths.image).blocks * 512
    lazy = execFileSync('dumpe2fs', [paths.image], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
      .split('\n')
      .filter((l) => /^Group \d+:/.test(l) && !l.includes('ITABLE_ZEROED')).length
    times.grow.push(
      await ms(async () => {
        if (online) return growVolume(paths, 2 * SIZE)
        await unmountVolume(paths)
        await growVolume(paths, 2 * SIZE)
        await mountVolume(paths)
      }),
    )
    times.destroy.push(await ms(() => destroyVolume(paths)))
  }
} finally {
  await destroyVolume({ image: join(dir, 'volume.img'), mountPoint: join(dir, 'mnt') }).catch(() => {})
  rmSync(dir, { recursive: true, force: true })
}
const f = (xs) => `${median(xs).toFixed(0)} ms (min ${Math.min(...xs).toFixed(0)}, max ${Math.max(...xs).toFixed(0)})`
console.log(`volume of ${SIZE / GB} GB, median of ${RUNS} runs on ${machine()}`)
console.log(`  create (sparse image, mkfs.ext4, losetup, mount, chown): ${f(times.create)}; ${(allocated / 2 ** 20).toFixed(1)} MiB allocated; ${lazy} groups left to lazy init`)
console.log(`  grow to ${(2 * SIZE) / GB} GB ${online ? 'online' : 'offline (no CAP_SYS_RESOURCE here: unmount, e2fsck -f, resize2fs, mount)'}: ${f(times.grow)}`)
console.log(`  destroy (umount, detach, remove): ${f(times.destroy)}`)
