// Password flood (issue 11): 64 connections post wrong passwords for one user to
// POST /identity/v3/auth/tokens (no login needed) against `trove server`, from one source
// address (127.0.0.1) and then spread over 16 (127.0.1.1-16). Measured meanwhile, from other
// sources: an authenticated GET /flavors (127.0.0.2) and a correct password login (127.0.0.3).
// Reports the guesses per second the server checked (401 answers) and refused (429), and the
// API latency with and without the flood.
// Knobs: BENCH_AUTH_MS (10000) per flood, BENCH_AUTH_CONNECTIONS (64). Run `node bench/auth-flood.mjs` after a build.
import { loadavg } from 'node:os'
import { join } from 'node:path'
import { readFileSync } from 'node:fs'
import { Pool } from 'undici'
import { parse } from 'yaml'
import { machine, sleep, writeSection } from './lib.mjs'
import { fmtMs, login, pct, startTroveServer, stopChild, today, verbose, withRoot } from './harness.mjs'

const FLOOD_MS = Number(process.env.BENCH_AUTH_MS ?? 10_000)
const CONNECTIONS = Number(process.env.BENCH_AUTH_CONNECTIONS ?? 64)

const passwordBody = (name, password) => JSON.stringify({ auth: { identity: { methods: ['password'], password: { user: { name, domain: { name: 'Default' }, password } } } } })

/** Back-to-back requests on one connection from `localAddress` until `stop()`: latencies (ms). */
async function probe(url, localAddress, req, until) {
  const pool = new Pool(url, { connections: 1, localAddress })
  const lat = []
  let errors = 0
  try {
    while (!until()) {
      const t = performance.now()
      const r = await pool.request(req)
      await r.body.dump()
      if (r.statusCode >= 300) errors++
      lat.push(performance.now() - t)
      await sleep(20)
    }
  } finally {
    await pool.close()
  }
  return { lat, errors }
}

/** `CONNECTIONS` connections spread over `sources` posting wrong passwords for `ms`: status counts. */
async function flood(url, sources, ms) {
  const pools = sources.map((localAddress) => new Pool(url, { connections: Math.ceil(CONNECTIONS / sources.length), localAddress, headersTimeout: 60_000, bodyTimeout: 60_000 }))
  const counts = {}
  const end = performance.now() + ms
  const t0 = performance.now()
  let n = 0
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async (_, i) => {
      const pool = pools[i % pools.length]
      while (performance.now() < end) {
        try {
          const r = await pool.request({ method: 'POST', path: '/identity/v3/auth/tokens', headers: { 'content-type': 'application/json' }, body: passwordBody('demo', `guess-${n++}`) })
          await r.body.dump()
          counts[r.statusCode] = (counts[r.statusCode] ?? 0) + 1
        } catch (e) {
          counts[e.code ?? 'error'] = (counts[e.code ?? 'error'] ?? 0) + 1
        }
      }
    }),
  )
  const secs = (performance.now() - t0) / 1000
  await Promise.all(pools.map((p) => p.close()))
  return { counts, secs }
}

/** The API probe (GET /flavors from 127.0.0.2) and login probe (127.0.0.3) while `during` runs. */
async function measure(url, client, pw, during) {
  let done = false
  const api = probe(url, '127.0.0.2', { method: 'GET', path: `/v1.0/${client.project}/flavors`, headers: { 'x-auth-token': client.token } }, () => done)
  const logins = probe(url, '127.0.0.3', { method: 'POST', path: '/identity/v3/auth/tokens', headers: { 'content-type': 'application/json' }, body: passwordBody('admin', pw) }, () => done)
  const result = await during()
  done = true
  return { result, api: await api, logins: await logins }
}

// The same script on the code before issue 11 (commit 0b0b474: synchronous scrypt on the event loop, no
// throttle), on this machine under a load average of ~21 (other work running), 2026-12-04.
const BEFORE = [
  'Before issue 11 (commit 0b0b474: synchronous scrypt on the event loop, no throttle), same script, same day, similar load',
  '(load average ~21 on 2 cores: other work was running, so every figure here is slow in absolute terms):',
  '',
  '| flood | guesses checked/s | refused/s | GET /flavors p50 / p99 / max | admin login p50 / p99 / max |',
  '|---|---|---|---|---|',
  '| no flood | - | - | 248.6 ms / 473.8 ms / 473.8 ms | 268.9 ms / 529.3 ms / 529.3 ms |',
  '| 1 source (127.0.0.1) | 6.4 | 0 | 629.6 ms / 11166.1 ms / 11166.1 ms | 2302.7 ms / 9022.8 ms / 9022.8 ms |',
  '| 16 sources (127.0.1.1-16) | 5.9 | 0 | 294.2 ms / 7355.2 ms / 7355.2 ms | 307.6 ms / 7368.3 ms / 7368.3 ms |',
  '',
  'A login without a flood costs the same before and after: both servers side by side, 20 alternating logins each, p50 230 ms',
  'before and 237 ms after (the same load); the "no flood" login figures in the two tables differ by the load of the moment.',
]

const fmt = (lat) => (lat.length ? `${fmtMs(pct(lat, 50))} / ${fmtMs(pct(lat, 99))} / ${fmtMs(Math.max(...lat))}` : 'none answered')

await withRoot('bench-auth', async (root, onCleanup) => {
  const server = await startTroveServer(join(root, 'lab'))
  onCleanup(() => stopChild(server.child))
  const client = await login(server.url, server.cloudsFile)
  const adminPw = parse(readFileSync(server.cloudsFile, 'utf8')).clouds['trove-lab-admin'].auth.password
  const rows = []
  const load = loadavg()[0]
  const quiet = await measure(server.url, client, adminPw, () => sleep(3000))
  rows.push(`| no flood | - | - | ${fmt(quiet.api.lat)} | ${fmt(quiet.logins.lat)} |`)
  for (const [label, sources] of [
    ['1 source (127.0.0.1)', ['127.0.0.1']],
    ['16 sources (127.0.1.1-16)', Array.from({ length: 16 }, (_, i) => `127.0.1.${i + 1}`)],
  ]) {
    const m = await measure(server.url, client, adminPw, () => flood(server.url, sources, FLOOD_MS))
    const { counts, secs } = m.result
    const checked = (counts[401] ?? 0) / secs
    const refused = (counts[429] ?? 0) / secs
    verbose(`${label}: ${JSON.stringify(counts)} in ${secs.toFixed(1)} s; api ${fmt(m.api.lat)} (${m.api.errors} errors); login ${fmt(m.logins.lat)} (${m.logins.errors} errors)`)
    if (m.api.errors || m.logins.errors) throw new Error(`${label}: ${m.api.errors} API and ${m.logins.errors} login probes failed`)
    rows.push(`| ${label} | ${checked.toFixed(1)} | ${refused.toFixed(0)} | ${fmt(m.api.lat)} | ${fmt(m.logins.lat)} |`)
    // Let the throttle forget this flood before the next one.
    await sleep(1000)
  }
  const body = [
    `Measured ${today()} on ${machine()} (load average ${load.toFixed(1)} at the start) by \`node bench/auth-flood.mjs\`: \`trove server\` (one process), ${CONNECTIONS} connections`,
    `posting wrong passwords for the user demo for ${FLOOD_MS / 1000} s each; meanwhile one connection from 127.0.0.2 sends`,
    'authenticated `GET /flavors` and one from 127.0.0.3 logs in as admin with the right password, back to back (20 ms apart).',
    'Guesses checked/s: wrong passwords the server verified (401); refused/s: answered 429 without a check.',
    '',
    '| flood | guesses checked/s | refused/s | GET /flavors p50 / p99 / max | admin login p50 / p99 / max |',
    '|---|---|---|---|---|',
    ...rows,
    '',
    'Throttle: 10 failed logins a minute per source and 30 per user (a source that logged the user in before is exempt from the',
    "user's count), so a steady flood gets 0.17 guesses/s per address and 0.5/s per user; the rows above include the first burst.",
    '',
    ...BEFORE,
  ].join('\n')
  process.stdout.write(`${body}\n`)
  if (!process.env.BENCH_AUTH_NO_WRITE) writeSection('auth-flood', 'Password flood: guesses allowed and API latency', body)
})
