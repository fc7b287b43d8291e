// Before/after on a busy machine: `trove instance create --wait` (spawn to exit) and the agent's RSS,
// run by turns against two trees at the same time, so that both see the same load: BENCH_AB_BASE
// (a built checkout of the commit to compare with, e.g. `git archive REV | tar -x -C DIR`, node_modules
// linked, npm run build) and this one. Each tree runs its own `trove server` (its own agents).
// Knobs: BENCH_RUNS (7), BENCH_ENGINE (redis). Prints the medians; writes nothing.
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { ROOT, machine, median as med } from './lib.mjs'
import { stopChild, withRoot } from './harness.mjs'

if (!process.env.BENCH_AB_BASE) throw new Error('BENCH_AB_BASE: a built checkout to compare with')
const TREES = { base: process.env.BENCH_AB_BASE, new: ROOT }
const RUNS = Number(process.env.BENCH_RUNS ?? 7)
const ENGINE = process.env.BENCH_ENGINE ?? 'redis'
const run = (tree, args, env) =>
  new Promise((res, rej) => {
    const t0 = performance.now()
    const c = spawn('/usr/bin/env', ['-u', 'NODE_OPTIONS', process.execPath, join(tree, 'bin/trove'), ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = '',
      err = ''
    c.stdout.on('data', (b) => (out += b))
    c.stderr.on('data', (b) => (err += b))
    c.once('exit', (code) => (code === 0 ? res({ ms: performance.now() - t0, out: out.trim() }) : rej(new Error(`${args.join(' ')}: ${code} ${err}`))))
  })
const servers = {}
const res = { base: [], new: [] }
// withRoot: whatever is left under the root (agents, engines, cgroups, address claims) goes at the end.
await withRoot('tab', async (root) => {
  for (const [k, tree] of Object.entries(TREES)) {
    const dir = join(root, k)
    servers[k] = await new Promise((res, rej) => {
      const c = spawn('/usr/bin/env', ['-u', 'NODE_OPTIONS', process.execPath, join(tree, 'bin/trove'), 'server', '--data-dir', dir, '--port', '0', '--rate-limits', 'none'], {
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      let o = ''
      const on = (b) => {
        o += b
        if (o.includes('use it:')) res({ c, dir, env: { PATH: process.env.PATH, HOME: dir, OS_CLIENT_CONFIG_FILE: join(dir, 'clouds.yaml'), OS_CLOUD: 'trove-lab' } })
      }
      c.stdout.on('data', on)
      c.stderr.on('data', on)
      c.once('exit', (x) => rej(new Error(`server ${k} ${x} ${o}`)))
    })
  }
  const create = async (k, name) => {
    const s = servers[k]
    const r = await run(TREES[k], ['instance', 'create', name, '--flavor', 'm1.tiny', '--size', '1', '--datastore', ENGINE, '--wait', '-f', 'value', '-c', 'id'], s.env)
    let rss = 0
    try {
      const pid = readFileSync(join(s.dir, 'instances', r.out, 'agent.pid'), 'utf8').trim()
      rss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024
    } catch {
      /* gone already */
    }
    await run(TREES[k], ['instance', 'delete', r.out, '--wait'], s.env)
    return { ms: r.ms, rss }
  }
  try {
    for (const k of Object.keys(TREES)) {
      await run(TREES[k], ['instance', 'list'], servers[k].env)
      await create(k, 'warm')
    }
    for (let i = 0; i < RUNS; i++)
      for (const k of i % 2 ? ['new', 'base'] : ['base', 'new']) {
        const r = await create(k, `ab${i}`)
        res[k].push(r)
        process.stderr.write(`${k} ${i}: ${r.ms.toFixed(0)} ms, agent ${r.rss.toFixed(1)} MB\n`)
      }
  } finally {
    for (const s of Object.values(servers)) await stopChild(s.c)
  }
})
for (const k of Object.keys(res))
  console.log(
    `${ENGINE} ${k}: create --wait median ${(med(res[k].map((r) => r.ms)) / 1000).toFixed(2)} s (${res[k].map((r) => (r.ms / 1000).toFixed(2)).join(' ')}), agent RSS median ${med(res[k].map((r) => r.rss)).toFixed(1)} MB`,
  )
console.log(machine())
