// API throughput and latency (issue 3 figures, issue 7 goal): GET /instances, GET /instances/{id},
// GET /flavors at 1 and 10 connections with 10 real Redis instances, and POST /instances until the 200.
// Run with `npm run bench` (or `node bench/api.mjs` after a build; BENCH_NODE_ARGS=--cpu-prof profiles the server). Writes its section of BENCHMARKS.md.
import { spawn, execFileSync } from 'node:child_process'
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { Pool, request } from 'undici'
import { parse } from 'yaml'
import { median, machine, sleep, writeSection, ROOT } from './lib.mjs'

const DURATION_MS = Number(process.env.BENCH_API_MS ?? 5000)
const WARMUP_MS = 1000
const INSTANCES = 10
const CREATE_SAMPLES = 5

function startServer(dataDir) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...(process.env.BENCH_NODE_ARGS ? process.env.BENCH_NODE_ARGS.split(' ') : []), join(ROOT, 'bin/trove'), 'server', '--data-dir', dataDir, '--port', '0', '--rate-limits', 'none'], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    const on = (b) => { out += b; const m = /listening on (http:\/\/\S+)/.exec(out); if (m && out.includes('use it:')) resolve({ child, url: m[1] }) }
    child.stdout.on('data', on); child.stderr.on('data', on)
    child.once('exit', (c) => reject(new Error(`server exited ${c}: ${out}`)))
  })
}

async function login(url, cloudsFile) {
  const a = parse(readFileSync(cloudsFile, 'utf8')).clouds['trove-lab'].auth
  const r = await request(`${url}/identity/v3/auth/tokens`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ auth: { identity: { methods: ['password'], password: { user: { name: a.username, domain: { name: 'Default' }, password: a.password } } }, scope: { project: { name: a.project_name, domain: { name: 'Default' } } } } }),
  })
  const body = await r.body.json()
  return { token: r.headers['x-subject-token'], project: body.token.project.id }
}

/** Requests back to back on `connections` connections for `ms`; latencies in ms. */
async function load(pool, path, headers, connections, ms) {
  const lat = []
  let errors = 0
  const end = performance.now() + ms
  await Promise.all(Array.from({ length: connections }, async () => {
    while (performance.now() < end) {
      const t0 = performance.now()
      const r = await pool.request({ method: 'GET', path, headers })
      await r.body.dump()
      if (r.statusCode !== 200) errors++
      lat.push(performance.now() - t0)
    }
  }))
  return { lat, errors }
}

const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] }

async function main() {
  const root = mkdtempSync('/tmp/tba.')
  chmodSync(root, 0o711)
  const dataDir = join(root, 'lab')
  let server
  let api
  let base
  const ids = []
  try {
    server = await startServer(dataDir)
    const { token, project } = await login(server.url, join(dataDir, 'clouds.yaml'))
    const headers = { 'x-auth-token': token, 'content-type': 'application/json' }
    base = `/v1.0/${project}`
    api = async (method, path, body) => {
      const r = await request(`${server.url}${path}`, { method, headers, body: body ? JSON.stringify(body) : undefined })
      const text = await r.body.text()
      return { status: r.statusCode, body: text ? JSON.parse(text) : undefined }
    }
    const create = (name) => api('POST', `${base}/instances`, { instance: { name, flavorRef: '1', volume: { size: 1 }, datastore: { type: 'redis' } } })
    const waitActive = async (id) => {
      for (const end = Date.now() + 60_000; Date.now() < end; await sleep(50)) {
        const s = (await api('GET', `${base}/instances/${id}`)).body.instance.status
        if (s === 'ACTIVE') return
        if (s === 'ERROR') throw new Error(`instance ${id} went to ERROR`)
      }
      throw new Error(`instance ${id} not ACTIVE within 60 s`)
    }

    // POST /instances until the 200 (the create is accepted; the build goes on in the background);
    // first, while the project's quota (10 instances) has room.
    const createMs = []
    for (let i = 0; i < CREATE_SAMPLES; i++) {
      const t0 = performance.now()
      const r = await create(`bench-post-${i}`)
      createMs.push(performance.now() - t0)
      if (r.status !== 200) throw new Error(`create failed: ${r.status}`)
      await waitActive(r.body.instance.id)
      await api('DELETE', `${base}/instances/${r.body.instance.id}`)
    }

    for (let i = 0; i < INSTANCES; i++) {
      const r = await create(`bench-${i}`)
      if (r.status !== 200) throw new Error(`create failed: ${r.status} ${JSON.stringify(r.body)}`)
      ids.push(r.body.instance.id)
    }
    for (const id of ids) await waitActive(id)

    const targets = [
      ['GET /instances', `${base}/instances`, { rps: 5000, p99: 10 }],
      ['GET /instances/{id}', `${base}/instances/${ids[0]}`, null],
      ['GET /flavors', `${base}/flavors`, null],
    ]
    const rows = []
    for (const [label, path, goal] of targets) {
      for (const connections of [1, 10]) {
        const pool = new Pool(server.url, { connections, pipelining: 1 })
        await load(pool, path, headers, connections, WARMUP_MS)
        const t0 = performance.now()
        const { lat, errors } = await load(pool, path, headers, connections, DURATION_MS)
        const secs = (performance.now() - t0) / 1000
        await pool.close()
        if (errors) throw new Error(`${label}: ${errors} non-200 answers`)
        const rps = lat.length / secs
        const p50 = pct(lat, 50)
        const p99 = pct(lat, 99)
        const g = goal && connections === 10
          ? `>= ${goal.rps} req/s, p99 <= ${goal.p99} ms (issue 7): ${rps >= goal.rps && p99 <= goal.p99 ? 'met' : 'not met'}`
          : ''
        rows.push(`| ${label} | ${connections} | ${rps.toFixed(0)} | ${p50.toFixed(2)} ms | ${p99.toFixed(2)} ms | ${g} |`)
        if (process.env.BENCH_VERBOSE) process.stderr.write(`${label} c=${connections}: ${rps.toFixed(0)} req/s p50 ${p50.toFixed(2)} p99 ${p99.toFixed(2)}\n`)
      }
    }

    const text = [
      `Command: \`npm run bench\` (bench/api.mjs), ${new Date().toISOString().slice(0, 10)}, ${machine()}.`,
      '',
      `\`trove server --rate-limits none\` with ${INSTANCES} ACTIVE Redis instances (flavor m1.tiny). Each row: an undici Pool with`,
      `N connections sending requests back to back for ${DURATION_MS / 1000} s after a ${WARMUP_MS / 1000} s warm-up; latency from request to the end of the body.`,
      '',
      '| request | connections | requests/s | p50 | p99 | goal |',
      '|---|---|---|---|---|---|',
      ...rows,
      '',
      `POST /instances until the 200 (Redis, accepted; the build goes on in the background): median ${median(createMs).toFixed(1)} ms,`,
      `max ${Math.max(...createMs).toFixed(1)} ms over ${CREATE_SAMPLES} creates (each deleted after it went ACTIVE).`,
    ].join('\n')
    writeSection('api', 'API throughput and latency', text)
    process.stdout.write(text + '\n')
  } finally {
    if (api && server) {
      for (const id of ids) await api('DELETE', `${base}/instances/${id}`).catch(() => undefined)
      for (const end = Date.now() + 30_000; Date.now() < end; await sleep(200)) {
        const r = await api('GET', `${base}/instances`).catch(() => undefined)
        if (!r || r.body?.instances?.length === 0) break
      }
    }
    if (server) { server.child.kill('SIGTERM'); await new Promise((r) => server.child.once('exit', r)) }
    // Anything a failed run left behind.
    try { execFileSync('sh', ['-c', `for p in $(ls /proc | grep -E '^[0-9]+$'); do readlink /proc/$p/cwd 2>/dev/null | grep -q '^${root}' && kill -9 $p; tr '\\0' ' ' 2>/dev/null < /proc/$p/cmdline | grep -q '${root}' && kill -9 $p; done; true`]) } catch { /* best effort */ }
    rmSync(root, { recursive: true, force: true })
  }
}

await main()
