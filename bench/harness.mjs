// Helpers of the issue-7 benchmarks (api, rpc, heartbeats, memory, scale): servers in
// processes of their own, login, request load, CPU and memory readings, and a cleanup
// that leaves nothing behind (processes, cgroups, address claims, temp dirs) even when
// a benchmark fails or is interrupted.
import { fork, spawn } from 'node:child_process'
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { request } from 'undici'
import { parse } from 'yaml'
import { ROOT, sleep } from './lib.mjs'
import { processesUnder, terminate } from '../dist/server/compute/processes.js'
import { instanceGroupDirs, removeInstanceGroups } from '../dist/server/compute/cgroups.js'
import { CLAIM_DIR } from '../dist/server/compute/addresses.js'
import { SERVER_ENV, SERVER_NODE_FLAGS } from '../dist/server/lab-control.js'

/** Linux clock ticks per second (getconf CLK_TCK: 100 on every Linux Node runs on). */
export const CLK_TCK = 100

/** User+system CPU time of a process so far, in seconds. */
export function cpuSeconds(pid) {
  const s = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ')
  return (Number(f[11]) + Number(f[12])) / CLK_TCK // utime, stime (fields 14, 15)
}

/** Resident memory of a process, MB (VmRSS). */
export function rssOf(pid) {
  try {
    return Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024
  } catch {
    return 0
  }
}

/** MemAvailable of the machine, MB. */
export function memAvailableMb() {
  return Number(/^MemAvailable:\s+(\d+)/m.exec(readFileSync('/proc/meminfo', 'utf8'))[1]) / 1024
}

export const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]
}
export const fmtMs = (x) => `${x.toFixed(x < 10 ? 2 : 1)} ms`
export const today = () => new Date().toISOString().slice(0, 10)
export const verbose = (m) => {
  if (process.env.BENCH_VERBOSE) process.stderr.write(`${m}\n`)
}

/**
 * A temp root (traversable by the engine user) for one benchmark; `fn(root, onCleanup)`
 * runs in it and everything under it is removed afterwards, also on SIGINT/SIGTERM.
 */
export async function withRoot(prefix, fn) {
  const root = mkdtempSync(`/tmp/${prefix}.`)
  chmodSync(root, 0o711)
  const hooks = []
  let cleaned
  const cleanup = () =>
    (cleaned ??= (async () => {
      for (const h of hooks.reverse()) {
        try {
          await h()
        } catch (e) {
          verbose(`cleanup: ${e.message}`)
        }
      }
      await cleanRoot(root)
    })())
  const onSignal = () => {
    void cleanup().finally(() => process.exit(130))
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  try {
    return await fn(root, (h) => hooks.push(h))
  } finally {
    await cleanup()
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}

/** Kills every process of `root`, removes its instances' cgroups and address claims, then the directory. */
export async function cleanRoot(root) {
  const pids = processesUnder(root)
  if (pids.length) await terminate(pids, 5000)
  const ids = []
  for (const sub of ['lab/instances', 'instances']) {
    try {
      ids.push(...readdirSync(join(root, sub)))
    } catch {
      /* none */
    }
  }
  for (const id of ids) await removeInstanceGroups(instanceGroupDirs(id), 2000)
  try {
    for (const a of readdirSync(CLAIM_DIR)) {
      try {
        if (readFileSync(join(CLAIM_DIR, a), 'utf8').startsWith(root + '/')) rmSync(join(CLAIM_DIR, a))
      } catch {
        /* raced */
      }
    }
  } catch {
    /* no claims dir */
  }
  rmSync(root, { recursive: true, force: true })
}

/** Stops a child process (SIGTERM, then SIGKILL after `graceMs`). */
export async function stopChild(child, graceMs = 10_000) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise((r) => child.once('exit', r))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
  await exited
  clearTimeout(timer)
}

/**
 * `trove server` (bin/trove) in its own process, tuned as `trove server start` runs it (SERVER_NODE_FLAGS and
 * SERVER_ENV of src/server/lab-control.ts; BENCH_SERVER_TUNING=0: Node's and glibc's defaults, as a foreground
 * `trove server`): { child, pid, url, cloudsFile }.
 */
export function startTroveServer(dataDir, args = [], nodeArgs = process.env.BENCH_NODE_ARGS ? process.env.BENCH_NODE_ARGS.split(' ') : []) {
  const tuned = process.env.BENCH_SERVER_TUNING !== '0'
  return new Promise((resolve, reject) => {
    const child = spawn(
      '/usr/bin/env',
      [
        '-u',
        'NODE_OPTIONS',
        ...(tuned ? Object.entries(SERVER_ENV).map(([k, v]) => `${k}=${v}`) : []),
        process.execPath,
        ...(tuned ? SERVER_NODE_FLAGS : []),
        ...nodeArgs,
        join(ROOT, 'bin/trove'),
        'server',
        '--data-dir',
        dataDir,
        '--port',
        '0',
        '--rate-limits',
        'none',
        ...args,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    )
    let out = ''
    const on = (b) => {
      out += b
      const m = /listening on (http:\/\/\S+)/.exec(out)
      if (m && out.includes('use it:')) resolve({ child, pid: child.pid, url: m[1], cloudsFile: join(dataDir, 'clouds.yaml') })
    }
    child.stdout.on('data', on)
    child.stderr.on('data', on)
    child.once('exit', (c) => reject(new Error(`server exited ${c}: ${out}`)))
  })
}

/**
 * The lab server of bench/lab-server.mjs (spawnAgents:false) in its own process (node flags from
 * BENCH_LAB_NODE_ARGS, e.g. --cpu-prof --cpu-prof-dir=/tmp/prof):
 * { child, pid, url, cloudsFile, brokerPort, call(op, args) }.
 */
export function startLabServer(dataDir) {
  return new Promise((resolve, reject) => {
    const execArgv = process.env.BENCH_LAB_NODE_ARGS ? process.env.BENCH_LAB_NODE_ARGS.split(' ') : []
    const child = fork(join(ROOT, 'bench/lab-server.mjs'), [dataDir], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: { ...process.env, NODE_OPTIONS: '' } })
    const pending = new Map()
    let seq = 0
    const call = (op, args) =>
      new Promise((res, rej) => {
        const id = ++seq
        pending.set(id, { res, rej })
        child.send({ id, op, args })
      })
    child.on('message', (m) => {
      if (m.ready) return resolve({ child, pid: child.pid, url: m.url, cloudsFile: m.cloudsFile, brokerPort: m.brokerPort, call })
      const p = pending.get(m.id)
      if (!p) return
      pending.delete(m.id)
      if (m.ok) p.res(m.result)
      else p.rej(new Error(m.error))
    })
    child.once('exit', (c) => {
      reject(new Error(`lab server exited ${c}`))
      for (const p of pending.values()) p.rej(new Error(`lab server exited ${c}`))
    })
  })
}

/** A Keystone token for a lab user: { token, project, user }. `cloud`: trove-lab or trove-lab-admin. */
export async function login(url, cloudsFile, cloud = 'trove-lab') {
  const a = parse(readFileSync(cloudsFile, 'utf8')).clouds[cloud].auth
  const r = await request(`${url}/identity/v3/auth/tokens`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      auth: {
        identity: { methods: ['password'], password: { user: { name: a.username, domain: { name: 'Default' }, password: a.password } } },
        scope: { project: { name: a.project_name, domain: { name: 'Default' } } },
      },
    }),
  })
  const body = await r.body.json()
  return { token: r.headers['x-subject-token'], project: body.token.project.id }
}

/** A small JSON client for one user: api(method, path, body) -> { status, body }; paths under /v1.0/{project}. */
export function apiClient(url, { token, project }) {
  const headers = { 'x-auth-token': token, 'content-type': 'application/json' }
  const base = `/v1.0/${project}`
  const api = async (method, path, body) => {
    const r = await request(`${url}${base}${path}`, { method, headers, body: body ? JSON.stringify(body) : undefined })
    const text = await r.body.text()
    let parsed
    try {
      parsed = text ? JSON.parse(text) : undefined
    } catch {
      parsed = text
    }
    return { status: r.statusCode, body: parsed }
  }
  return { api, headers, base, project }
}

/** Lets the demo project (or `project`) create as many instances as it likes (admin PUT /mgmt/quotas). */
export async function unlimitedQuota(url, cloudsFile, project) {
  const admin = apiClient(url, await login(url, cloudsFile, 'trove-lab-admin'))
  const r = await admin.api('PUT', `/mgmt/quotas/${project}`, { quotas: { instances: -1, ram: -1, volumes: -1 } })
  if (r.status !== 200) throw new Error(`quota update: ${r.status} ${JSON.stringify(r.body)}`)
}

/** Waits until every id has `status` (throws on ERROR unless wanted, or after timeoutMs). */
export async function waitAll(api, ids, status = 'ACTIVE', timeoutMs = 120_000) {
  const left = new Set(ids)
  const end = Date.now() + timeoutMs
  while (left.size) {
    for (const id of [...left]) {
      const r = await api('GET', `/instances/${id}`)
      const s = r.body?.instance?.status
      if (s === status) left.delete(id)
      else if (s === 'ERROR' && status !== 'ERROR') throw new Error(`instance ${id} went to ERROR: ${JSON.stringify(r.body.instance.fault ?? {})}`)
    }
    if (!left.size) break
    if (Date.now() > end) throw new Error(`${left.size} instance(s) not ${status} within ${timeoutMs / 1000} s`)
    await sleep(200)
  }
}

/** Deletes the ids through the API and waits until they are gone (404). */
export async function deleteAll(api, ids, timeoutMs = 180_000) {
  for (const id of ids) await api('DELETE', `/instances/${id}`)
  const left = new Set(ids)
  const end = Date.now() + timeoutMs
  while (left.size && Date.now() < end) {
    for (const id of [...left]) if ((await api('GET', `/instances/${id}`)).status === 404) left.delete(id)
    if (left.size) await sleep(200)
  }
  if (left.size) throw new Error(`${left.size} instance(s) not deleted within ${timeoutMs / 1000} s`)
}

/**
 * Back-to-back requests on `connections` connections of `pool` for `ms` ms, or until
 * `count` requests were sent: { lat (ms, of 2xx answers only), errors (answers other than
 * 2xx), statuses (count per non-2xx status), secs, bodies (when keep) }. Throughput is
 * lat.length / secs: an answer other than 2xx (a 429 of a rate limit, a 500) never counts.
 */
export async function load(pool, { method = 'GET', path, headers, body, keep = false }, connections, { ms, count } = {}) {
  const lat = []
  const bodies = []
  const statuses = {}
  let errors = 0
  let sent = 0
  const end = performance.now() + (ms ?? 1e12)
  const t0 = performance.now()
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (performance.now() < end && (count === undefined || sent < count)) {
        sent++
        const t = performance.now()
        const r = await pool.request({ method, path, headers, body: typeof body === 'function' ? body() : body })
        if (keep) bodies.push(await r.body.json().catch(() => undefined))
        else await r.body.dump()
        if (r.statusCode >= 200 && r.statusCode < 300) lat.push(performance.now() - t)
        else {
          errors++
          statuses[r.statusCode] = (statuses[r.statusCode] ?? 0) + 1
        }
      }
    }),
  )
  return { lat, errors, statuses, secs: (performance.now() - t0) / 1000, bodies }
}
