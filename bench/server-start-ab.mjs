// Before/after on a busy machine: the CPU a `trove server` start costs (issue 11: every e2e test
// file starts at least one), by turns against two trees so that both see the same load:
// BENCH_AB_BASE (a built checkout of the commit to compare with, e.g. `git archive REV | tar -x -C DIR`,
// node_modules linked, npm run build) and this one. Each run is a fresh data directory; the figure
// is the server process's user+system CPU (/proc) when it prints its banner, then it is stopped.
// Knobs: BENCH_RUNS (10). Prints the medians; writes nothing.
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { ROOT, machine, median } from './lib.mjs'
import { cpuSeconds, stopChild, withRoot } from './harness.mjs'

if (!process.env.BENCH_AB_BASE) throw new Error('BENCH_AB_BASE: a built checkout to compare with')
const TREES = { base: process.env.BENCH_AB_BASE, new: ROOT }
const RUNS = Number(process.env.BENCH_RUNS ?? 10)

/** One start of `trove server` from `tree`: CPU seconds and wall seconds until it answers. */
const start = (tree, dataDir) =>
  new Promise((res, rej) => {
    const t0 = performance.now()
    // env execs node in place: the pid is the server's.
    const c = spawn('/usr/bin/env', ['-u', 'NODE_OPTIONS', process.execPath, join(tree, 'bin/trove'), 'server', '--data-dir', dataDir, '--port', '0'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    const on = (b) => {
      out += b
      if (!out.includes('use it:')) return
      c.stdout.off('data', on)
      c.stderr.off('data', on)
      const r = { cpu: cpuSeconds(c.pid), wall: (performance.now() - t0) / 1000 }
      stopChild(c).then(() => res(r), rej)
    }
    c.stdout.on('data', on)
    c.stderr.on('data', on)
    c.once('exit', (code) => {
      if (!out.includes('use it:')) rej(new Error(`${tree}: trove server exited ${code}: ${out}`))
    })
  })

const res = { base: [], new: [] }
await withRoot('tsab', async (root) => {
  for (let i = 0; i < RUNS; i++) {
    for (const [k, tree] of Object.entries(TREES)) res[k].push(await start(tree, join(root, `${k}-${i}`)))
  }
})
console.log(machine())
for (const k of Object.keys(TREES)) {
  const cpu = res[k].map((r) => r.cpu)
  console.log(
    `${k}: ${TREES[k]}: CPU to ready median ${median(cpu).toFixed(2)} s (min ${Math.min(...cpu).toFixed(2)}, max ${Math.max(...cpu).toFixed(2)}), wall median ${median(res[k].map((r) => r.wall)).toFixed(2)} s, ${RUNS} runs`,
  )
}
