// API throughput and latency (issue 3 figures, issue 7 goal): GET /instances, GET /instances/{id},
// GET /flavors and POST /instances at 1 and 10 connections, with 10 and 100 instances present.
//  - 10 instances: `trove server` with 10 real ACTIVE Redis instances (GET /instances/{id} asks the
//    agent for the volume usage, as it does for a user), plus POST /instances of real Redis creates.
//  - 100 instances: bench/lab-server.mjs (the same server with spawnAgents:false) with 100 ACTIVE rows
//    and no engines; POST /instances under load there too (each create is accepted, its build waits
//    for an agent that never comes; the bench marks them ACTIVE and deletes them through the API).
// Knobs: BENCH_API_MS (5000) measuring time per GET row, BENCH_API_POSTS (100) creates per POST row,
// BENCH_API_INSTANCES (10), BENCH_API_ROWS (100), BENCH_NODE_ARGS (e.g. --cpu-prof, real server only),
// BENCH_VERBOSE=1. Run with `npm run bench` (or `node bench/api.mjs` after a build).
import { join } from 'node:path'
import { Pool } from 'undici'
import { median, machine, writeSection } from './lib.mjs'
import { apiClient, deleteAll, fmtMs, load, login, pct, startLabServer, startTroveServer, stopChild, today, unlimitedQuota, verbose, waitAll, withRoot } from './harness.mjs'

const DURATION_MS = Number(process.env.BENCH_API_MS ?? 5000)
const WARMUP_MS = Math.min(1000, DURATION_MS)
const INSTANCES = Number(process.env.BENCH_API_INSTANCES ?? 10)
const ROWS = Number(process.env.BENCH_API_ROWS ?? 100)
const POSTS = Number(process.env.BENCH_API_POSTS ?? 100)
const CREATE_SAMPLES = 5
const GOAL = { rps: 5000, p99: 10 }

/** The servers' rate-limit setting, stated in every row: the figures hold for it. */
const RATE_LIMITS = 'none'
/** Answers other than 2xx: a count per status, or 0. */
const others = (r) =>
  r.errors
    ? Object.entries(r.statuses)
        .map(([st, n]) => `${n} x ${st}`)
        .join(', ')
    : '0'

const row = (label, present, connections, r, goal = '') => {
  const rps = r.lat.length / r.secs // 2xx answers only (harness.load)
  verbose(`${label} (${present}) c=${connections}: ${rps.toFixed(0)} req/s p50 ${pct(r.lat, 50).toFixed(2)} p99 ${pct(r.lat, 99).toFixed(2)} non-2xx ${others(r)}`)
  return {
    rps,
    p99: pct(r.lat, 99),
    text: `| ${label} | ${present} | ${RATE_LIMITS} | ${connections} | ${rps.toFixed(0)} | ${fmtMs(pct(r.lat, 50))} | ${fmtMs(pct(r.lat, 99))} | ${others(r)} | ${goal} |`,
  }
}

/** The GET rows of one setting. */
async function getRows(url, headers, base, id, present, goalFor) {
  const rows = []
  for (const [label, path] of [
    ['GET /instances', `${base}/instances`],
    ['GET /instances/{id}', `${base}/instances/${id}`],
    ['GET /flavors', `${base}/flavors`],
  ]) {
    for (const connections of [1, 10]) {
      const pool = new Pool(url, { connections, pipelining: 1 })
      try {
        await load(pool, { path, headers }, connections, { ms: WARMUP_MS })
        const r = await load(pool, { path, headers }, connections, { ms: DURATION_MS })
        const g = goalFor?.(label, connections)
        const res = row(label, present, connections, r)
        rows.push(g ? row(label, present, connections, r, `>= ${g.rps} req/s, p99 <= ${g.p99} ms (issue 7): ${res.rps >= g.rps && res.p99 <= g.p99 && !r.errors ? 'met' : 'not met'}`).text : res.text)
      } finally {
        await pool.close()
      }
    }
  }
  return rows
}

/** POST /instances rows (1 and 10 connections, POSTS creates each) in the lab server; deletes what they made. */
async function postRows(lab, client, present) {
  const rows = []
  let n = 0
  const body = () => JSON.stringify({ instance: { name: `bench-post-${n++}`, flavorRef: '1', volume: { size: 1 }, datastore: { type: 'redis' } } })
  for (const connections of [1, 10]) {
    const pool = new Pool(lab.url, { connections, pipelining: 1 })
    try {
      const r = await load(pool, { method: 'POST', path: `${client.base}/instances`, headers: client.headers, body }, connections, { count: POSTS })
      rows.push(row('POST /instances', present, connections, r).text)
    } finally {
      await pool.close()
      const made = await lab.call('activateBuilding', { project: client.project })
      await deleteAll(client.api, made)
    }
  }
  return rows
}

async function realServer(root) {
  const server = await startTroveServer(join(root, 'lab'))
  const ids = []
  const client = apiClient(server.url, await login(server.url, server.cloudsFile))
  try {
    await unlimitedQuota(server.url, server.cloudsFile, client.project)
    const create = (name) => client.api('POST', '/instances', { instance: { name, flavorRef: '1', volume: { size: 1 }, datastore: { type: 'redis' } } })
    // POST /instances until the 200 (the create is accepted; the build goes on in the background).
    const createMs = []
    for (let i = 0; i < CREATE_SAMPLES; i++) {
      const t0 = performance.now()
      const r = await create(`bench-post-${i}`)
      createMs.push(performance.now() - t0)
      if (r.status !== 200) throw new Error(`create failed: ${r.status} ${JSON.stringify(r.body)}`)
      ids.push(r.body.instance.id)
      await waitAll(client.api, [r.body.instance.id])
      await deleteAll(client.api, ids.splice(0))
    }
    for (let i = 0; i < INSTANCES; i++) {
      const r = await create(`bench-${i}`)
      if (r.status !== 200) throw new Error(`create failed: ${r.status} ${JSON.stringify(r.body)}`)
      ids.push(r.body.instance.id)
    }
    await waitAll(client.api, ids)
    const rows = await getRows(server.url, client.headers, client.base, ids[0], `${INSTANCES} (Redis)`, (label, c) => (label === 'GET /instances' && c === 10 && INSTANCES === 10 ? GOAL : undefined))
    return { rows, createMs }
  } finally {
    await deleteAll(client.api, ids).catch((e) => verbose(`delete: ${e.message}`))
    await stopChild(server.child)
  }
}

async function rowsServer(root) {
  const lab = await startLabServer(join(root, 'rows'))
  try {
    const client = apiClient(lab.url, await login(lab.url, lab.cloudsFile))
    const seeded = await lab.call('seed', { project: client.project, n: INSTANCES })
    const rows = await postRows(lab, client, `${INSTANCES} (rows)`)
    seeded.push(...(await lab.call('seed', { project: client.project, n: ROWS - INSTANCES })))
    rows.push(...(await getRows(lab.url, client.headers, client.base, seeded[0], `${ROWS} (rows)`)))
    rows.push(...(await postRows(lab, client, `${ROWS} (rows)`)))
    await lab.call('unseed', { ids: seeded })
    return rows
  } finally {
    await stopChild(lab.child)
  }
}

async function main() {
  await withRoot('tba', async (root) => {
    const real = await realServer(root)
    const rows = await rowsServer(root)
    const text = [
      `Command: \`BENCH_ONLY=api node bench/run.mjs\` (bench/api.mjs), ${today()}, ${machine()}. The machine is shared with other work: figures vary between runs.`,
      '',
      `Servers run with \`--rate-limits none\` (the "rate limits" column; the default limits would answer 429 long before these rates) in a process of their own. "${INSTANCES} (Redis)": \`trove server\` with ${INSTANCES} ACTIVE Redis`,
      `instances (flavor m1.tiny); GET /instances/{id} includes the agent's answer on the volume usage (an RPC, as for any user).`,
      `"N (rows)": the same server code started with spawnAgents:false (bench/lab-server.mjs) and N ACTIVE instance rows`,
      'without engines (no RPC in GET /instances/{id}). GET rows: an undici Pool with N connections sending requests back',
      `to back for ${DURATION_MS / 1000} s after a ${WARMUP_MS / 1000} s warm-up; latency from request to the end of the body. GET /instances`,
      `answers one page (20 instances). POST rows: ${POSTS} creates of Redis instances until the 200 each (accepted:`,
      'the row, address claim, quota, task; no engine starts), deleted through the API afterwards. requests/s, p50 and p99 count',
      'only 2xx answers; any other answer is in the "non-2xx" column and never in the throughput (a goal with any is not met).',
      '',
      '| request | instances present | rate limits | connections | requests/s | p50 | p99 | non-2xx | goal |',
      '|---|---|---|---|---|---|---|---|---|',
      ...real.rows,
      ...rows,
      '',
      `POST /instances until the 200 with a real build after it (Redis, \`trove server\`): median ${median(real.createMs).toFixed(1)} ms,`,
      `max ${Math.max(...real.createMs).toFixed(1)} ms over ${CREATE_SAMPLES} creates (each deleted after it went ACTIVE).`,
    ].join('\n')
    writeSection('api', 'API throughput and latency', text)
    process.stdout.write(text + '\n')
  })
}

await main()
