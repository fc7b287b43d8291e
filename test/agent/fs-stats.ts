import t from 'tap'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { filesystemStats } from '../../src/agent/fs-stats.js'
import { diskUsage } from '../../src/common/disk-usage.js'
import { toGb } from '../../src/common/units.js'

t.test('toGb rounds like upstream and never reports 0 for a used volume', async (t) => {
  t.equal(toGb(0), 0)
  t.equal(toGb(1), 0.01)
  t.equal(toGb(1.5 * 1024 ** 3), 1.5)
  t.equal(toGb(1024 ** 3 / 3), 0.33)
})

t.test('walks a tree counting allocated blocks', async (t) => {
  const dir = t.testdir({ a: 'x'.repeat(10_000), sub: { b: 'y'.repeat(5000), deeper: { c: 'z' } } })
  const used = await diskUsage(dir)
  t.ok(used >= 16_384 && used < 200_000, `used ${used} bytes`)
  t.equal(await diskUsage(join(dir, 'missing')), 0, 'a missing path is 0')
  // A sparse file uses what it allocates, not its length.
  const sparse = join(dir, 'sparse')
  writeFileSync(sparse, '')
  const { truncateSync } = await import('node:fs')
  truncateSync(sparse, 1024 ** 3)
  t.ok((await diskUsage(dir)) < used + 8192, 'sparse 1 GB file counts its blocks only')
  mkdirSync(join(dir, 'empty'))
  const stats = await filesystemStats(dir, 2)
  t.equal(stats.total, 2)
  t.equal(stats.used, 0.01)
  t.ok(stats.free > 2 * 1024 ** 3 - 200_000 && stats.free < 2 * 1024 ** 3)
})

t.test("a volume of its own is measured by statfs (df's figures); a plain directory is not a mount point", async (t) => {
  const { isMountPoint, volumeStats } = await import('../../src/agent/fs-stats.js')
  const { statfsSync } = await import('node:fs')
  t.equal(await isMountPoint(t.testdir({})), false, 'a directory of the host')
  t.equal(await isMountPoint('/proc'), true, '/proc is a filesystem of its own')
  t.equal(await isMountPoint('/nonexistent-dir'), false)
  const s = statfsSync('/')
  const v = await volumeStats('/')
  t.equal(v.total, Math.round(((s.blocks * s.bsize) / 1024 ** 3) * 100) / 100, 'total: the filesystem size in GB')
  t.ok(Math.abs(v.free - s.bavail * s.bsize) < 256 * 1024 ** 2, 'free: what an unprivileged writer may still use (bytes)')
  t.ok(v.used > 0 && v.used <= v.total)
})
