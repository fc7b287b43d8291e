// MQTT heartbeat load (issue 7): N simulated agents (mqtt.js clients with the real per-agent credentials
// the server issues, of instance rows that exist, so every heartbeat is checked and applied) heartbeating
// once a second; the server's CPU (utime+stime from /proc/<pid>/stat of the server process) and RSS.
// The server is bench/lab-server.mjs (buildServer with spawnAgents:false) in its own process; the clients
// run in BENCH_HB_PROCS other processes (bench/heartbeat-clients.mjs), so their CPU is not counted.
// Knobs: BENCH_HB_AGENTS (1000), BENCH_HB_PROCS (4), BENCH_HB_SECONDS (30), BENCH_HB_PERIOD_MS (1000),
// BENCH_VERBOSE=1. Run with `npm run bench` (or `node bench/heartbeats.mjs` after a build).
import { fork } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { machine, sleep, writeSection, ROOT } from './lib.mjs'
import { cpuSeconds, login, rssOf, startLabServer, stopChild, today, verbose, withRoot } from './harness.mjs'

const AGENTS = Number(process.env.BENCH_HB_AGENTS ?? 1000)
const PROCS = Math.max(1, Math.min(Number(process.env.BENCH_HB_PROCS ?? 4), AGENTS))
const SECONDS = Number(process.env.BENCH_HB_SECONDS ?? 30)
const PERIOD_MS = Number(process.env.BENCH_HB_PERIOD_MS ?? 1000)
const GOAL_PCT = 25

function startClients() {
  return new Promise((resolve, reject) => {
    const child = fork(join(ROOT, 'bench/heartbeat-clients.mjs'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: { ...process.env, NODE_OPTIONS: '' } })
    const waiters = []
    child.on('message', (m) => {
      if (m.ready) resolve({ child, next })
      else waiters.shift()?.(m)
    })
    child.once('exit', (c) => {
      reject(new Error(`client process exited ${c}`))
      for (const w of waiters.splice(0)) w({ error: `exited ${c}` })
    })
    const next = (msg) =>
      new Promise((r) => {
        waiters.push(r)
        child.send(msg)
      })
  })
}

/** CPU % of one core used by `pid` over `ms`, and its RSS (max of 1 s samples, MB). */
async function watch(pid, ms) {
  const c0 = cpuSeconds(pid)
  const t0 = performance.now()
  let maxRss = rssOf(pid)
  for (let left = ms; left > 0; left -= 1000) {
    await sleep(Math.min(1000, left))
    maxRss = Math.max(maxRss, rssOf(pid))
  }
  const secs = (performance.now() - t0) / 1000
  return { cpuPct: ((cpuSeconds(pid) - c0) / secs) * 100, maxRss, rss: rssOf(pid), secs }
}

async function main() {
  await withRoot('tbh', async (root, onCleanup) => {
    const lab = await startLabServer(join(root, 'lab'))
    onCleanup(() => stopChild(lab.child))
    const { project } = await login(lab.url, lab.cloudsFile)
    const ids = await lab.call('seed', { project, n: AGENTS, prefix: 'bench-hb' })
    const agents = await lab.call('credentials', { ids })
    await sleep(1000)
    const idle = await watch(lab.pid, 5000)
    verbose(`idle with ${AGENTS} rows: ${idle.cpuPct.toFixed(1)} % CPU, RSS ${idle.rss.toFixed(0)} MB`)

    const procs = []
    onCleanup(() => Promise.all(procs.map((p) => stopChild(p.child, 5000))))
    for (let i = 0; i < PROCS; i++) procs.push(await startClients())
    const c0 = cpuSeconds(lab.pid)
    const t0 = performance.now()
    // Each simulated agent dials from an address of its own, as agents do (their instance address): the broker caps connections per source.
    const placed = agents.map((a, j) => ({ ...a, localAddress: `127.77.${Math.floor(j / 250)}.${(j % 250) + 1}` }))
    const ca = readFileSync(join(root, 'lab', 'tls', 'ca.crt'), 'utf8')
    const replies = await Promise.all(procs.map((p, i) => p.next({ agents: placed.filter((_, j) => j % PROCS === i), port: lab.brokerPort, ca })))
    const connectSecs = (performance.now() - t0) / 1000
    const connectCpu = cpuSeconds(lab.pid) - c0
    const connected = replies.reduce((n, r) => n + (r.connectedReply?.connected ?? 0), 0)
    verbose(`connected ${connected}/${AGENTS} in ${connectSecs.toFixed(1)} s (server CPU ${connectCpu.toFixed(2)} s)`)
    if (connected !== AGENTS) throw new Error(`only ${connected} of ${AGENTS} simulated agents connected`)
    await sleep(2000)
    const connectedIdle = await watch(lab.pid, 3000)

    await Promise.all(procs.map((p) => p.next({ go: PERIOD_MS })))
    await sleep(Math.max(2000, PERIOD_MS * 2)) // every client has started its period
    const load = await watch(lab.pid, SECONDS * 1000)
    const { fresh } = await lab.call('heartbeatStats', { ids })
    const stopped = await Promise.all(procs.map((p) => p.next({ stop: true })))
    const sent = stopped.reduce((n, r) => n + (r.stopped?.sent ?? 0), 0)
    const acked = stopped.reduce((n, r) => n + (r.stopped?.acked ?? 0), 0)
    verbose(`load: ${load.cpuPct.toFixed(1)} % CPU, RSS ${load.rss.toFixed(0)} MB (max ${load.maxRss.toFixed(0)}), ${fresh}/${AGENTS} fresh, sent ${sent} acked ${acked}`)
    if (fresh !== AGENTS) throw new Error(`only ${fresh} of ${AGENTS} instances had a fresh heartbeat applied`)

    const rate = AGENTS / (PERIOD_MS / 1000)
    const text = [
      `Command: \`npm run bench\` (bench/heartbeats.mjs), ${today()}, ${machine()}.`,
      '',
      `${AGENTS} simulated agents (mqtt.js clients in ${PROCS} processes of their own, connected like \`trove agent\`: TLS with the lab's CA, each from an address of its own, with the per-agent`,
      `credentials the server issued for ${AGENTS} instance rows) each publishing a heartbeat event (QoS 1) every ${PERIOD_MS / 1000} s:`,
      `${rate.toFixed(0)} heartbeats/s, each authorised, parsed and applied to the instance's guest status. The server (buildServer`,
      'with spawnAgents:false, bench/lab-server.mjs) runs in its own process; CPU is its utime+stime from /proc/<pid>/stat',
      `over ${SECONDS} s, in % of one core. All ${AGENTS} instances had a heartbeat applied in the last 5 s at the end.`,
      '',
      '| phase | server CPU | server RSS | goal |',
      '|---|---|---|---|',
      `| idle, ${AGENTS} instance rows, no agents connected | ${idle.cpuPct.toFixed(1)} % | ${idle.rss.toFixed(0)} MB | |`,
      `| ${AGENTS} agents connecting (${connectSecs.toFixed(1)} s) | ${connectCpu.toFixed(2)} s of CPU | | |`,
      `| ${AGENTS} agents connected, silent | ${connectedIdle.cpuPct.toFixed(1)} % | ${connectedIdle.rss.toFixed(0)} MB | |`,
      `| ${AGENTS} agents, ${rate.toFixed(0)} heartbeats/s for ${SECONDS} s | ${load.cpuPct.toFixed(1)} % | ${load.rss.toFixed(0)} MB (max ${load.maxRss.toFixed(0)} MB) | < ${GOAL_PCT} % of one core (issue 7): ${load.cpuPct < GOAL_PCT ? 'met' : 'not met'} |`,
      '',
      `Heartbeats published ${sent}, acknowledged by the broker ${acked}.`,
    ].join('\n')
    writeSection('heartbeats', 'MQTT heartbeat load', text)
    process.stdout.write(text + '\n')
    await lab.call('unseed', { ids })
  })
}

await main()
