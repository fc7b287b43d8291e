// Failover figures (issue 16 item 8), the HA checker (test/helpers/ha-checker.ts, ha-run.ts) repeated: per
// engine and fault kind, K runs, each on a fresh sandboxed source with two replicas, clients writing through
// the writer endpoint while the primary is faulted with the admin verbs; prints per engine and kind the time
// from the fault to the first acknowledged write on the new primary (median, max), and the acknowledged
// writes lost and split-brain writes summed over the runs. Until automatic failover lands (ha-run.ts
// FAILOVER = 'manual'), the failover is the eject once the heartbeat is stale (6 s here): the figures are the
// lab's manual path, not HA figures, and are printed only (not written to BENCHMARKS.md).
// Knobs: BENCH_FAILOVER_K (3), BENCH_FAILOVER_ENGINES (postgresql,mariadb,redis),
// BENCH_FAILOVER_KINDS (kill-engine,kill-engine+agent,pause,partition). Needs root (sandboxes). After a build:
// `node bench/failover.mjs`. No periodic reconciliation (as in test/e2e/chaos-ha.ts): a killed agent stays dead
// (the eject needs its heartbeat stale), and the sandbox sweep's race with a create cannot fail a run.
import { chmodSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { tsImport } from 'tsx/esm/api'
import { median } from './lib.mjs'

const K = Number(process.env.BENCH_FAILOVER_K ?? 3)
const ENGINES = (process.env.BENCH_FAILOVER_ENGINES ?? 'postgresql,mariadb,redis').split(',')
const KINDS = (process.env.BENCH_FAILOVER_KINDS ?? 'kill-engine,kill-engine+agent,pause,partition').split(',')

const { buildServer } = await import('../dist/server/index.js')
const { TroveClient, resolveAuth } = await import('../dist/sdk/index.js')
const { removeSandboxLab } = await import('../dist/server/compute/sandbox-lab.js')
/** @type {typeof import('../test/helpers/ha-run.ts')} */
const ha = await tsImport('../test/helpers/ha-run.ts', import.meta.url)
/** @type {typeof import('../test/helpers/ha-checker.ts')} */
const checker = await tsImport('../test/helpers/ha-checker.ts', import.meta.url)

const dir = mkdtempSync(join(tmpdir(), 'trove-failover-'))
// The engines' users traverse down to their instance directories (a directory made here, 0700 by mkdtemp).
chmodSync(dir, 0o711)
const server = await buildServer({ dataDir: join(dir, 'lab'), host: '127.0.0.1', port: 0, isolation: 'sandbox', reconcileMs: 0, heartbeatMs: 1000, heartbeatExpiryMs: 6000, log: () => undefined })
const { cloudsFile } = await server.start()
/** @param {string} cloud */
const clientOf = (cloud) => new TroveClient({ auth: resolveAuth({ env: { OS_CLIENT_CONFIG_FILE: cloudsFile }, cloud }) })
const client = clientOf('trove-lab')
const admin = clientOf('trove-lab-admin')
const s = (/** @type {number} */ ms) => (ms / 1000).toFixed(2)

console.log(`failover (${ha.FAILOVER}), ${K} run(s) per engine and fault kind`)
console.log('engine      fault               runs  median s  max s   lost  split-brain')
try {
  for (const engine of ENGINES) {
    for (const kind of KINDS) {
      /** @type {number[]} */
      const times = []
      let lost = 0
      let split = 0
      for (let i = 0; i < K; i++) {
        const set = await ha.createSet(client, /** @type {import('../test/helpers/ha-checker.ts').Engine} */ (engine), `fo-${engine}-${i}`, 2)
        try {
          const run = await ha.runFault({ client, admin, set, primaryId: set.ids[0], scenario: kind, clients: 2, pauseMs: 20_000 })
          if (run.report.failoverMs !== undefined) times.push(run.report.failoverMs)
          lost += run.report.lost.length
          split += run.report.splitBrain.length
          console.error(`  ${engine} ${kind} #${i + 1}: ${checker.reportLine(run.report)}`)
        } catch (e) {
          console.error(`  ${engine} ${kind} #${i + 1}: failed: ${/** @type {Error} */ (e).message}`)
        } finally {
          await ha.deleteSet(client, set)
        }
      }
      const med = times.length ? s(median(times)) : '-'
      const max = times.length ? s(Math.max(...times)) : '-'
      console.log(`${engine.padEnd(11)} ${kind.padEnd(19)} ${String(times.length).padStart(4)}  ${med.padStart(8)}  ${max.padStart(5)}  ${String(lost).padStart(5)}  ${String(split).padStart(11)}`)
    }
  }
} finally {
  await server.close()
  await removeSandboxLab(/** @type {any} */ (server.lab.compute)).catch(() => undefined)
  rmSync(dir, { recursive: true, force: true })
}
