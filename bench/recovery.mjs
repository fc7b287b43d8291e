// Recovery times (issue 6) on a real lab with Redis instances:
//  - server restart (SIGTERM, and SIGKILL) -> every instance ACTIVE and HEALTHY again (from the new server's spawn);
//  - a killed (SIGKILL) agent -> a new agent running and the instance HEALTHY (the server's reconciliation
//    starts it; period TROVE_RECONCILE_MS, default 10 s);
//  - a killed (SIGKILL) engine -> the engine answering again (restarted by its agent).
// Knobs: RECOVERY_INSTANCES (3), RECOVERY_RUNS (3). Run with `npm run bench` (BENCH_ONLY=recovery) or
// `node bench/recovery.mjs` after a build. Writes the "Recovery" section of BENCHMARKS.md.
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { isAlive } from '../dist/server/compute/processes.js'
import { machine, median, sleep, writeSection } from './lib.mjs'
import { apiClient, deleteAll, login, startTroveServer, stopChild, today, waitAll, withRoot } from './harness.mjs'

const INSTANCES = Number(process.env.RECOVERY_INSTANCES ?? 3)
const RUNS = Number(process.env.RECOVERY_RUNS ?? 3)

const pidIn = (f) => {
  try {
    return Number(readFileSync(f, 'utf8').trim()) || undefined
  } catch {
    return undefined
  }
}

async function until(what, probe, ms = 60_000) {
  const t0 = performance.now()
  for (;;) {
    try {
      if (await probe()) return performance.now() - t0
    } catch {
      /* not yet */
    }
    if (performance.now() - t0 > ms) throw new Error(`timed out: ${what}`)
    await sleep(25)
  }
}

await withRoot('trc', async (root, onCleanup) => {
  const dataDir = join(root, 'lab')
  let server = await startTroveServer(dataDir)
  onCleanup(() => stopChild(server.child))
  let { api } = apiClient(server.url, await login(server.url, server.cloudsFile))
  const ids = []
  for (let i = 0; i < INSTANCES; i++)
    ids.push((await api('POST', '/instances', { instance: { name: `rec-${i}`, flavorRef: '1', volume: { size: 1 }, datastore: { type: 'redis' } } })).body.instance.id)
  await waitAll(api, ids)
  const dir = (id) => join(dataDir, 'instances', id)
  const allHealthy = async () => {
    const r = await api('GET', '/instances')
    return r.status === 200 && r.body.instances.length === ids.length && r.body.instances.every((i) => i.status === 'ACTIVE' && i.operating_status === 'HEALTHY')
  }
  const ping = (id) =>
    spawnSync('redis-cli', ['-s', join(dir(id), 'run/redis.sock'), 'PING'], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH, REDISCLI_AUTH: readFileSync(join(dir(id), 'conf/admin.secret'), 'utf8').trim() },
    }).stdout?.trim() === 'PONG'

  const restart = { SIGTERM: [], SIGKILL: [] }
  for (let r = 0; r < RUNS; r++) {
    for (const signal of ['SIGTERM', 'SIGKILL']) {
      const exited = new Promise((res) => server.child.once('exit', res))
      server.child.kill(signal)
      await exited
      const t0 = performance.now()
      server = await startTroveServer(dataDir)
      ;({ api } = apiClient(server.url, await login(server.url, server.cloudsFile)))
      await until('all ACTIVE', allHealthy, 30_000)
      restart[signal].push(performance.now() - t0)
    }
  }

  const agent = []
  const engine = []
  for (let r = 0; r < RUNS; r++) {
    const id = ids[r % ids.length]
    const old = pidIn(join(dir(id), 'agent.pid'))
    const t0 = performance.now()
    process.kill(old, 'SIGKILL')
    await until(
      'a new agent',
      () => {
        const p = pidIn(join(dir(id), 'agent.pid'))
        return p && p !== old && isAlive(p)
      },
      60_000,
    )
    await until('HEALTHY', async () => (await api('GET', `/instances/${id}`)).body.instance.operating_status === 'HEALTHY', 60_000)
    agent.push(performance.now() - t0)

    const e = pidIn(join(dir(id), 'run/redis.pid'))
    const t1 = performance.now()
    process.kill(e, 'SIGKILL')
    await until(
      'engine back',
      () => {
        const p = pidIn(join(dir(id), 'run/redis.pid'))
        return p && p !== e && ping(id)
      },
      60_000,
    )
    engine.push(performance.now() - t1)
    await sleep(1000)
  }
  await deleteAll(api, ids)

  const s = (xs) => `${(median(xs) / 1000).toFixed(2)} s (max ${(Math.max(...xs) / 1000).toFixed(2)} s)`
  const text = [
    `${today()}, ${machine()}. \`node bench/recovery.mjs\`: ${INSTANCES} Redis instances, median of ${RUNS} runs each.`,
    'The machine is shared with other work; figures vary between runs. `test/e2e/chaos-kills.ts` asserts the bounds.',
    '',
    '| event | recovered when | time | bound |',
    '|---|---|---|---|',
    `| server stopped (SIGTERM) and started again | every instance ACTIVE and HEALTHY (from the new server's spawn) | ${s(restart.SIGTERM)} | 10 s |`,
    `| server killed (SIGKILL) and started again | every instance ACTIVE and HEALTHY (from the new server's spawn) | ${s(restart.SIGKILL)} | 10 s |`,
    `| agent killed (SIGKILL) | a new agent runs (started by the server's reconciliation, 10 s period) and the instance is HEALTHY | ${s(agent)} | 30 s |`,
    `| engine killed (SIGKILL) | the engine answers again (restarted by its agent, same data) | ${s(engine)} | |`,
  ].join('\n')
  writeSection('recovery', 'Recovery', text)
  process.stdout.write(`${text}\n`)
})
