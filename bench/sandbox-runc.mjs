// The runc sandbox part of issue 14 (src/server/compute/sandbox.ts): per sandbox the bundle write, create ->
// init running (`runc run --detach`), destroy (`runc delete --force` + cgroups), with the host's
// containers-common seccomp profile and without, and what stays resident: runc itself (nothing, checked),
// and the memory charged to the sandbox's cgroup for an idle init (`sleep`).
// Knobs: BENCH_SANDBOX_N (10 per variant). Run as root after a build: `node bench/sandbox-runc.mjs`.
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { machine } from './lib.mjs'

const { createSandbox, destroySandbox, sandboxCgroupDirs, sweepSandboxes, writeBundle } = await import('../dist/server/compute/sandbox.js')
const { hostSeccomp } = await import('../dist/server/compute/seccomp.js')

const N = Number(process.env.BENCH_SANDBOX_N ?? 10)
const dir = mkdtempSync('/tmp/tv-bench-sandbox.')
const rt = { root: join(dir, 'runc'), cgroupParent: `trove-bench-${process.pid}` }
const median = (a) => a.sort((x, y) => x - y)[Math.floor(a.length / 2)]
const runcProcesses = () =>
  readdirSync('/proc').filter((p) => {
    try {
      return /^\d+$/.test(p) && readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').includes(rt.root)
    } catch {
      return false
    }
  }).length

try {
  const t = performance.now()
  const seccomp = hostSeccomp()
  const convertMs = performance.now() - t
  const volume = join(dir, 'volume')
  mkdirSync(volume)
  console.log(machine())
  console.log(`seccomp profile converted in ${convertMs.toFixed(1)} ms (${seccomp?.syscalls.length ?? 0} rules)`)
  for (const [name, profile] of [
    ['with seccomp', seccomp],
    ['without seccomp', undefined],
  ]) {
    const bundle = []
    const create = []
    const destroy = []
    const charged = []
    let resident = 0
    for (let i = 0; i < N; i++) {
      const inst = join(dir, `${name.replace(/ /g, '-')}-${i}`)
      mkdirSync(inst)
      const o = {
        id: `b${process.pid}-${i}`,
        bundleDir: join(inst, 'bundle'),
        uid: 4_300_000,
        gid: 4_300_000,
        volumeDir: volume,
        limits: { memoryBytes: 64 << 20, cpus: 1, pids: 64 },
        args: ['sleep', '600'],
        env: ['PATH=/usr/bin'],
        seccomp: profile,
      }
      let t0 = performance.now()
      writeBundle(o, rt)
      bundle.push(performance.now() - t0)
      t0 = performance.now()
      await createSandbox(rt, o)
      create.push(performance.now() - t0)
      resident += runcProcesses()
      const mem = sandboxCgroupDirs(rt, o.id).find((d) => {
        try {
          return readdirSync(d).includes('memory.usage_in_bytes') || readdirSync(d).includes('memory.current')
        } catch {
          return false
        }
      })
      if (mem) charged.push(Number(readFileSync(join(mem, readdirSync(mem).includes('memory.current') ? 'memory.current' : 'memory.usage_in_bytes'), 'utf8')))
      t0 = performance.now()
      await destroySandbox(rt, o.id, o.bundleDir)
      destroy.push(performance.now() - t0)
    }
    console.log(
      `${name}: bundle ${median(bundle).toFixed(1)} ms, create -> init running ${median(create).toFixed(0)} ms, destroy ${median(destroy).toFixed(0)} ms (medians of ${N}); ` +
        `runc processes resident after start: ${resident}; memory charged to an idle sandbox: ${charged.length ? `${(median(charged) / 1024).toFixed(0)} KiB` : 'n/a'}`,
    )
  }
} finally {
  await sweepSandboxes(rt, [])
  rmSync(dir, { recursive: true, force: true })
}
