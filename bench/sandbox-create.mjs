// create -> ACTIVE of a Redis instance in a sandbox (`isolation: 'sandbox'`, src/server/compute/sandboxed.ts: a warm
// sandbox taken whole, its agent waiting, when the lab holds one (sandbox-warm.ts); else uid, volume, netns + filter,
// runc with the agent as the init's first child) beside one with `isolation: 'none'` (a loopback address, the standby
// agent on the host), each lab started in this process, creates one after the other (each deleted once ACTIVE, the
// delete timed until the instance is gone). ACTIVE is polled every 10 ms.
// Knobs: BENCH_RUNS (5), BENCH_ENGINE (redis; mariadb and postgresql start from the lab's sandbox template from the
// second create on: the first, not counted, starts its build, which is waited for). Run as root after a build:
// `node bench/sandbox-create.mjs`.
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { clientFor, machine, median, sleep } from './lib.mjs'

const RUNS = Number(process.env.BENCH_RUNS ?? 5)
const ENGINE = process.env.BENCH_ENGINE ?? 'redis'
// BENCH_BURST=1: each create right after the last delete (the pools refill only after 1 s without a create, the warm
// sandbox at once: a create finds it when the last one's was made meanwhile). Default: each create once the lab is
// ready again (a warm sandbox made, the pools holding parts), as creates spaced by a second or more find it.
// BENCH_WARM=0: no warm sandbox (the cold path: pooled parts, runc and the agent's start on the create's path).
const BURST = process.env.BENCH_BURST === '1'
const WARM = process.env.BENCH_WARM === '0' ? 0 : undefined
const initKb = []
/** Rss and Pss of the sandbox's init, in kB (smaps_rollup). */
function initRssKb(pidFile) {
  try {
    const text = readFileSync(`/proc/${Number(readFileSync(pidFile, 'utf8'))}/smaps_rollup`, 'utf8')
    return { rss: Number(/^Rss:\s+(\d+)/m.exec(text)[1]), pss: Number(/^Pss:\s+(\d+)/m.exec(text)[1]) }
  } catch {
    return { rss: Number.NaN, pss: Number.NaN }
  }
}
const { buildServer } = await import('../dist/server/index.js')
const { removeSandboxLab } = await import('../dist/server/compute/sandbox-lab.js')

/** The driver's log lines give each part's time: `<part> in N ms`. */
const parts = new Map()
function record(line) {
  for (const m of line.matchAll(
    /(uid \d+|address \S+ \(netns[^)]*\)|volume(?: \(pooled\))?|warm sandbox, limits|filter|template copied|sandbox \(runc\)|agent \(runc exec\)|agent \(started by the init\) seen) in (\d+) ms/g,
  )) {
    const key = m[1].startsWith('address') ? (m[1].includes('pooled') ? 'address (netns, pooled)' : 'address (netns)') : m[1].startsWith('uid') ? 'uid' : m[1]
    parts.set(key, [...(parts.get(key) ?? []), Number(m[2])])
  }
}

async function lab(isolation) {
  const dir = mkdtempSync('/tmp/tv-bench-iso.')
  chmodSync(dir, 0o711)
  // No rate limits: the 10 ms polls are ~100 GETs a second, and past the default 200 a minute each answer was a 429
  // whose Retry-After (1 s) the SDK waited out: the sandbox's figures had ~0.6 s of that in them (session 18).
  const server = await buildServer({ dataDir: join(dir, 'lab'), host: '127.0.0.1', port: 0, isolation, reconcileMs: 0, rateLimits: [], ...(WARM === 0 ? { sandboxWarm: 0 } : {}), log: record })
  const { cloudsFile } = await server.start()
  return { dir, server, client: await clientFor(cloudsFile) }
}

/** Until the sandbox lab holds a warm sandbox and its pools are full (at most 30 s). */
async function ready(compute) {
  for (const end = Date.now() + 30_000; Date.now() < end; await sleep(20)) {
    if ((WARM === 0 || (compute.warm?.readyCount ?? 0) >= 1) && compute.pools.netns.readyCount >= 1 && compute.pools.volumes.readyCount >= 1) return
  }
  throw new Error('the sandbox lab made no warm sandbox within 30 s')
}

async function measure(isolation) {
  const l = await lab(isolation)
  const create = []
  const del = []
  try {
    for (let i = 0; i < RUNS + 1; i++) {
      if (!BURST && isolation === 'sandbox') await ready(l.server.lab.compute)
      let t0 = performance.now()
      const inst = await l.client.instances.create({ name: `b${i}`, flavorRef: '1', volume: { size: 1 }, datastore: { type: ENGINE } })
      for (;;) {
        const s = (await l.client.instances.get(inst.id)).status
        if (s === 'ACTIVE') break
        if (s !== 'BUILD') throw new Error(`${isolation}: instance ${inst.id} is ${s}`)
        await sleep(10)
      }
      // The first create of a lab pays one-off costs (module loading, the lab's first rules): not counted.
      if (i > 0) create.push(performance.now() - t0)
      // What the sandbox itself keeps resident beyond the agent and the engine: its init (catatonit).
      if (isolation === 'sandbox') initKb.push(initRssKb(join(l.server.lab.compute.instanceDir(inst.id), 'bundle', 'init.pid')))
      t0 = performance.now()
      await l.client.instances.delete(inst.id)
      for (;;) {
        try {
          await l.client.instances.get(inst.id)
        } catch {
          break
        }
        await sleep(10)
      }
      if (i > 0) del.push(performance.now() - t0)
      // The first create of an engine with a template starts its build: waited for, so the others copy it.
      if (i === 0 && isolation === 'sandbox') await l.server.lab.compute.templates?.settled()
    }
  } finally {
    if (isolation === 'sandbox') await removeSandboxLab(l.server.lab.compute)
    await l.server.close()
    rmSync(l.dir, { recursive: true, force: true })
  }
  return { create, del }
}

console.log(machine())
for (const isolation of ['none', 'sandbox']) {
  const { create, del } = await measure(isolation)
  const fmt = (xs) => `median ${median(xs).toFixed(0)} ms (min ${Math.min(...xs).toFixed(0)}, max ${Math.max(...xs).toFixed(0)})`
  console.log(`${ENGINE}, isolation ${isolation}: create -> ACTIVE ${fmt(create)}; delete -> gone ${fmt(del)} over ${RUNS} runs`)
}
console.log(`${BURST ? 'burst' : 'spaced'} creates, warm sandbox ${WARM === 0 ? 'off' : 'on'}: ${parts.get('warm sandbox, limits')?.length ?? 0} of ${RUNS + 1} sandboxed creates took one`)
// Every create's parts (the first one's included).
console.log(`sandbox parts, median over ${RUNS + 1} creates: ${[...parts].map(([k, xs]) => `${k} ${median(xs)} ms`).join(', ')}`)
console.log(`sandbox init (catatonit) resident, median: Rss ${median(initKb.map((k) => k.rss))} kB, Pss ${median(initKb.map((k) => k.pss))} kB`)
