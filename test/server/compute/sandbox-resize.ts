// The resize parts of the sandboxed driver that need no sandbox (the rest runs for real in test/e2e/sandbox-resize.ts).
import t from 'tap'
import { chmodSync, closeSync, mkdtempSync, openSync, readFileSync, rmSync, statfsSync, truncateSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { canGrowOnline, runcUpdateArgs, updateSandboxLimits, volumeGrowthProblem } from '../../../src/server/compute/sandbox-resize.js'
import { volumeIsFull } from '../../../src/server/instances/volume-full.js'

const GB = 1024 ** 3

t.test('an online grow needs CAP_SYS_RESOURCE (bit 24 of CapEff)', async (t) => {
  t.equal(canGrowOnline('Name:\tnode\nCapEff:\t000001ffffffffff\n'), true, 'every capability')
  t.equal(canGrowOnline('Name:\tnode\nCapEff:\t000001fffeffffff\n'), false, "this lab's container: all but CAP_SYS_RESOURCE")
  t.equal(canGrowOnline('CapEff:\t0000000001000000\n'), true, 'CAP_SYS_RESOURCE alone')
  t.equal(canGrowOnline('CapEff:\t0000000000000000\n'), false, 'none')
  t.equal(canGrowOnline('Name:\tnode\n'), false, 'no CapEff line: not assumed')
  t.type(canGrowOnline(), 'boolean', 'this process, from /proc/self/status')
})

t.test("runc update's arguments: memory and memory+swap the same, CFS quota from vCPUs, pids", async (t) => {
  t.same(runcUpdateArgs('inst-1', { memoryBytes: 2048 * 1024 * 1024, cpus: 2, pids: 1024 }), [
    'update',
    '--memory',
    '2147483648',
    '--memory-swap',
    '2147483648',
    '--cpu-period',
    '100000',
    '--cpu-quota',
    '200000',
    '--pids-limit',
    '1024',
    'inst-1',
  ])
  t.same(runcUpdateArgs('x', { memoryBytes: 1, cpus: 0.5, pids: 1 }).slice(7, 9), ['--cpu-quota', '50000'], 'half a CPU')
})

t.test('updateSandboxLimits runs runc with the lab root; a failure is runc update and its last line', async (t) => {
  const dir = mkdtempSync('/tmp/tv-runcupd.')
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const seen = join(dir, 'args')
  const runc = join(dir, 'runc')
  writeFileSync(
    runc,
    `#!/bin/sh\nprintf '%s\\n' "$@" > ${seen}\ncase "$*" in *fails*) echo 'time="x" level=error msg="oops"' >&2; echo 'unable to set memory limit to 1 (current usage: 9, peak usage: 9)' >&2; exit 1;; esac\n`,
  )
  chmodSync(runc, 0o755)
  const rt = { root: join(dir, 'state'), cgroupParent: 'trove-x', runc }
  await updateSandboxLimits(rt, 'inst-1', { memoryBytes: 512 * 1024 * 1024, cpus: 1, pids: 1024 })
  t.same(readFileSync(seen, 'utf8').trim().split('\n'), ['--root', rt.root, ...runcUpdateArgs('inst-1', { memoryBytes: 512 * 1024 * 1024, cpus: 1, pids: 1024 })])
  await t.rejects(updateSandboxLimits(rt, 'fails', { memoryBytes: 1, cpus: 1, pids: 1 }), { message: 'runc update: unable to set memory limit to 1 (current usage: 9, peak usage: 9)' })
})

t.test('a growth beyond the free space of the image filesystem, or a shrink, is refused with the figures', async (t) => {
  const dir = mkdtempSync('/tmp/tv-growchk.')
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const image = join(dir, 'volume.img')
  closeSync(openSync(image, 'w', 0o600))
  truncateSync(image, GB) // sparse: what the host must hold is the growth
  const paths = { image, mountPoint: join(dir, 'mnt') }
  t.equal(volumeGrowthProblem(paths, 2 * GB), undefined, 'one more GB fits')
  t.equal(volumeGrowthProblem(paths, GB), undefined, 'the same size: nothing to refuse')
  t.equal(volumeGrowthProblem(paths, GB / 2), 'a volume only grows (1 GB now, 512 MB asked)')
  const s = statfsSync(dir)
  const free = s.bavail * s.bsize
  const tooBig = (Math.ceil(free / GB) + 2) * GB
  t.match(volumeGrowthProblem(paths, tooBig), /^it needs [\d.]+ GB more on the host, which has [\d.]+ GB free$/)
})

t.test('a volume is full with less than 1% (at least 1 MiB) left for the engine', async (t) => {
  t.equal(volumeIsFull({ used: 0.5, total: 1, free: 0.5 * GB }), false)
  t.equal(volumeIsFull({ used: 0.99, total: 1, free: 0.011 * GB }), false, 'just over 1%')
  t.equal(volumeIsFull({ used: 0.99, total: 1, free: 0.009 * GB }), true, 'under 1%')
  t.equal(volumeIsFull({ used: 0.9, total: 0.05, free: 512 * 1024 }), true, 'a tiny volume: under 1 MiB')
  t.equal(volumeIsFull({ used: 0.93, total: 0.95, free: 0 }), true, 'nothing left')
})

t.test('ERROR for a full volume: the fault says so, or a volume resize tried then failed (a resize is allowed again)', async (t) => {
  const { erroredForFullVolume } = await import('../../../src/server/instances/volume-full.js')
  const inst = (server_status: string, fault_message: string | null) => ({ server_status, fault_message }) as Parameters<typeof erroredForFullVolume>[0]
  t.equal(erroredForFullVolume(inst('ERROR', 'Volume full: 0.93 of 0.95 GB used, ...')), true)
  t.equal(erroredForFullVolume(inst('ERROR', 'Resizing the volume to 2 GB failed: resize2fs: ...')), true)
  t.equal(erroredForFullVolume(inst('ACTIVE', 'Volume full: 0.93 of 0.95 GB used, ...')), false, 'ACTIVE again: an old fault')
  t.equal(erroredForFullVolume(inst('ERROR', 'The build was interrupted and no flow is left to finish it.')), false, 'ERROR for another reason')
  t.equal(erroredForFullVolume(inst('ERROR', null)), false)
})
