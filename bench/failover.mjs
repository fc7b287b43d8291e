// Failover figures (issue 16 item 8), the HA checker (test/helpers/ha-checker.ts, ha-run.ts) repeated: per
// engine, fault kind and replication mode, K faults on one sandboxed set (a source, two replicas, auto_failover
// on, the dead-link tests' HA timings: heartbeat 200 ms, lease 1 s, margin 0.5 s), clients writing
// through the writer endpoint while the current primary is faulted with the admin verbs. The set fails over by
// itself; after each fault the old primary rejoins as a replica by itself and the next fault goes to the
// current primary. A set not whole again within BENCH_FAILOVER_REJOIN_S (or a run that fails) is deleted and a
// new one made (counted: "sets"). Prints per engine, kind and mode: faults run, the time from the fault to the
// first acknowledged write on the final primary (median, max), acknowledged writes lost and split-brain writes
// summed, how many faults failed over, and in how many of those the old primary rejoined (median time from the
// fault to the set whole again). stderr: one line per fault. Knobs: BENCH_FAILOVER_K (3), BENCH_FAILOVER_ENGINES
// (postgresql,mariadb,redis), BENCH_FAILOVER_KINDS (kill-engine,kill-engine+agent,pause,partition,control-plane-down:
// kill -9 of engine and agent with the server closed for 5 s from the fault, then a new one on the same data dir),
// BENCH_FAILOVER_SYNC (off; on: sync_replication on each set, PostgreSQL and MariaDB only, Redis refuses it),
// BENCH_FAILOVER_REJOIN_S (300), BENCH_FAILOVER_LOG (a file the server's log is appended to). Each fault's line
// has the monitor's timeline (its auto_failover notification) from the fault. Needs root (sandboxes). After a
// build: `node bench/failover.mjs`.
// No periodic reconciliation (as in test/e2e/chaos-ha.ts: its sandbox sweep can race a create): a pass is run
// every 2 s while a set is not whole (a killed agent is started again by it), never while a set is created.
import { appendFileSync, chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { tsImport } from 'tsx/esm/api'
import { median } from './lib.mjs'

const K = Number(process.env.BENCH_FAILOVER_K ?? 3)
const ENGINES = (process.env.BENCH_FAILOVER_ENGINES ?? 'postgresql,mariadb,redis').split(',')
const KINDS = (process.env.BENCH_FAILOVER_KINDS ?? 'kill-engine,kill-engine+agent,pause,partition,control-plane-down').split(',')
const SYNC = process.env.BENCH_FAILOVER_SYNC === 'on'
const REJOIN_MS = Number(process.env.BENCH_FAILOVER_REJOIN_S ?? 300) * 1000
const LOG = process.env.BENCH_FAILOVER_LOG

const { buildServer } = await import('../dist/server/index.js')
const { TroveClient, resolveAuth } = await import('../dist/sdk/index.js')
const { removeSandboxLab } = await import('../dist/server/compute/sandbox-lab.js')
const { Reconciler } = await import('../dist/server/reconcile.js')
const { processesUnder, terminate } = await import('../dist/server/compute/processes.js')
/** @type {typeof import('../test/helpers/ha-run.ts')} */
const ha = await tsImport('../test/helpers/ha-run.ts', import.meta.url)
/** @type {typeof import('../test/helpers/ha-checker.ts')} */
const checker = await tsImport('../test/helpers/ha-checker.ts', import.meta.url)

const dir = mkdtempSync(join(tmpdir(), 'trove-failover-'))
/** An instance's agent log (a sandboxed agent writes it in its volume's mount). */
const agentLog = (/** @type {string} */ id) => {
  try {
    return readFileSync(join(dir, 'lab', 'instances', id, 'mnt', 'agent.log'), 'utf8')
  } catch {
    return ''
  }
}
// The engines' users traverse down to their instance directories (a directory made here, 0700 by mkdtemp).
chmodSync(dir, 0o711)
const serverOptions = {
  dataDir: join(dir, 'lab'),
  host: '127.0.0.1',
  port: 0,
  isolation: /** @type {const} */ ('sandbox'),
  reconcileMs: 0,
  ...ha.HA_LAB,
  log: LOG ? (/** @type {string} */ m) => appendFileSync(LOG, `${new Date().toISOString()} ${m}\n`) : () => undefined,
}
let server = await buildServer(serverOptions)
let { cloudsFile } = await server.start()
let reconciler = new Reconciler(server.lab, {})
/** @param {string} cloud */
const clientOf = (cloud) => new TroveClient({ auth: resolveAuth({ env: { OS_CLIENT_CONFIG_FILE: cloudsFile }, cloud }) })
let client = clientOf('trove-lab')
let admin = clientOf('trove-lab-admin')
/** The control-plane-down scenario's: the server closed, and a new one on the same data directory (a new API port). */
/** @type {import('../test/helpers/ha-run.ts').ControlPlane} */
const controlPlane = {
  stop: () => server.close(),
  async start() {
    server = await buildServer(serverOptions)
    ;({ cloudsFile } = await server.start())
    reconciler = new Reconciler(server.lab, {})
    client = clientOf('trove-lab')
    admin = clientOf('trove-lab-admin')
    return { client, admin }
  },
}
const s = (/** @type {number} */ ms) => (ms / 1000).toFixed(2)
const mode = SYNC ? 'sync' : 'async'

console.log(`automatic failover, ${K} fault(s) per engine, fault kind and mode (${mode}), one set reused across them`)
console.log('engine      fault              mode   runs  median s  max s  lost  split-brain  failovers  rejoined (median s)  sets  failed')
try {
  for (const engine of ENGINES) {
    if (SYNC && engine === 'redis') {
      console.log(`${engine.padEnd(11)} (sync_replication is refused for Redis: not run)`)
      continue
    }
    for (const kind of KINDS) {
      /** @type {number[]} */
      const times = []
      /** control-plane-down: the control plane back -> the first acknowledged write on the final primary. @type {number[]} */
      const sinceUp = []
      /** @type {number[]} */
      const rejoins = []
      let lost = 0
      let split = 0
      let failovers = 0
      let sets = 0
      let failed = 0
      /** @type {import('../test/helpers/ha-run.ts').HaSet | undefined} */
      let set
      let primary = ''
      const drop = async () => {
        if (set) await ha.deleteSet(client, set).catch((e) => console.error(`  delete: ${e.message}`))
        set = undefined
      }
      for (let i = 0; i < K; i++) {
        const tag = `${engine} ${kind} ${mode} #${i + 1}`
        if (LOG) appendFileSync(LOG, `${new Date().toISOString()} bench: ${tag}: fault on ${set ? primary : 'a new set'}\n`)
        try {
          if (!set) {
            set = await ha.createSet(client, /** @type {import('../test/helpers/ha-checker.ts').Engine} */ (engine), `fo-${engine}-${sets}`, 2, { sync: SYNC })
            sets++
            primary = set.ids[0]
          }
          const run = await ha.runFault({
            client,
            admin,
            set,
            primaryId: primary,
            scenario: kind,
            clients: 2,
            pauseMs: 20_000,
            rejoinMs: REJOIN_MS,
            reconcile: () => reconciler.run(),
            agentLog,
            controlPlane,
          })
          const r = run.report
          if (r.failoverMs !== undefined) times.push(r.failoverMs)
          if (r.failoverMs !== undefined && run.upMs !== undefined) sinceUp.push(r.failoverMs - run.upMs)
          lost += r.lost.length
          split += r.splitBrain.length
          if (r.failedOver) failovers++
          if (r.failedOver && run.wholeMs !== undefined) rejoins.push(run.wholeMs)
          // The monitor's timeline of this fault's failover (its notification), from the fault: what the time went to.
          /** @type {Array<Record<string, { at: string }>>} */
          const tls = server.lab.notifications.list('trove.instance.auto_failover').map((n) => /** @type {any} */ (n.payload).timeline ?? {})
          const tl = tls.filter((x) => Date.parse(x.fault_seen?.at ?? '') >= run.faultAt - 1000).at(-1) ?? {}
          const steps = Object.entries(tl)
            .map(([k, v]) => `${k} ${s(Date.parse(v.at) - run.faultAt)}`)
            .join(', ')
          const fenced =
            kind !== 'partition'
              ? ''
              : run.fencedMs === undefined
                ? '; the cut-off primary NOT fenced by its lease before the heal'
                : `; the cut-off primary fenced by its lease ${s(run.fencedMs)} s after the fault`
          const up = run.upMs === undefined ? '' : `the control plane back after ${s(run.upMs)} s; `
          const whole = `${up}${run.wholeMs === undefined ? `not whole in ${s(REJOIN_MS)} s: a new set` : `whole again after ${s(run.wholeMs)} s`}${fenced}`
          console.error(
            `  ${tag}: ${checker.reportLine(r)}; ${whole}${steps ? ` (from the fault, s: ${steps})` : ''}${r.lost.length ? `; lost keys ${JSON.stringify(r.lost.slice(0, 10))}` : ''}${run.unreadable.length ? `; unreadable ${run.unreadable}` : ''}`,
          )
          if (run.wholeMs === undefined || !run.newPrimaryId) await drop()
          else primary = run.newPrimaryId
        } catch (e) {
          failed++
          console.error(`  ${tag}: failed: ${/** @type {Error} */ (e).message}`)
          await drop()
        }
      }
      await drop()
      const med = times.length ? s(median(times)) : '-'
      const max = times.length ? s(Math.max(...times)) : '-'
      const rj = `${rejoins.length}/${failovers}${rejoins.length ? ` (${s(median(rejoins))})` : ''}`
      console.log(
        `${engine.padEnd(11)} ${kind.padEnd(18)} ${mode.padEnd(5)}  ${String(times.length).padStart(4)}  ${med.padStart(8)}  ${max.padStart(5)}  ${String(lost).padStart(4)}  ${String(split).padStart(11)}  ${String(failovers).padStart(9)}  ${rj.padStart(19)}  ${String(sets).padStart(4)}  ${String(failed).padStart(6)}`,
      )
      if (sinceUp.length) console.log(`${''.padEnd(11)} (the control plane back -> the first acknowledged write: median ${s(median(sinceUp))} s, max ${s(Math.max(...sinceUp))} s)`)
    }
  }
} finally {
  await server.close()
  await removeSandboxLab(/** @type {any} */ (server.lab.compute)).catch(() => undefined)
  // What the close leaves running under the lab (the endpoints' HAProxy master outlived the runs otherwise).
  const left = processesUnder(dir)
  if (left.length) await terminate(left, 5000)
  rmSync(dir, { recursive: true, force: true })
}
