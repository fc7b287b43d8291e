// The MariaDB binlog archiver's cost on a write-heavy instance (issue 15 item 6): writes/s of BENCH_CONNS
// connections (default 4) each inserting one row per autocommit transaction for BENCH_SECONDS (default 5),
// on a scratch mariadbd with the agent's binlog settings. Two comparisons, each side run BENCH_RUNS times
// (default 5), alternating which goes first; medians:
//   1. sync_binlog=1 (the agent's, for RPO) next to sync_binlog=0 (the engine's default), no archiver;
//   2. with the archiver (dist/agent/datastores/mariadb/archive.js, the agent's own class: the binlog
//      files' new bytes copied every 200 ms, sealing on rotation) next to without, sync_binlog=1; and
//      `mariadb-binlog --raw --stop-never` alone ("tool": the stream the archiver was until session 17).
// Also: how far behind the archive was when the writers stopped (bytes), and how long it took to catch up.
// Needs root and the troveguest user; run `npm run build` first, then `node bench/binlog-archive.mjs`
// (or `npm run bench` with BENCH_ONLY=binlog-archive).
import { spawn, execFileSync } from 'node:child_process'
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createConnection } from 'mariadb'
import { ROOT, RUN_USER, machine, median, until, writeSection } from './lib.mjs'

const RUNS = Number(process.env.BENCH_RUNS ?? 5)
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5)
const CONNS = Number(process.env.BENCH_CONNS ?? 4)

const { lookupUser } = await import(join(ROOT, 'dist/agent/engine-process.js'))

const user = await lookupUser(RUN_USER)
const base = mkdtempSync('/tmp/bench-binlog-')
chmodSync(base, 0o711)
const paths = Object.fromEntries(['data', 'run', 'log', 'conf', 'tmp', 'archive'].map((d) => [d, join(base, d)]))
for (const d of Object.values(paths)) {
  mkdirSync(d, { mode: 0o700 })
  chownSync(d, user.uid, user.gid)
}
const socket = join(paths.run, 'mysqld.sock')
const cnf = join(paths.conf, 'my.cnf')
writeFileSync(
  cnf,
  `[mysqld]
user=${RUN_USER}
datadir=${paths.data}
tmpdir=${paths.tmp}
socket=${socket}
skip-networking
pid-file=${paths.run}/mysqld.pid
log-error=${paths.log}/error.log
server-id=7
log-bin=${paths.data}/mysql-bin
binlog_format=ROW
binlog_checksum=CRC32
sync_binlog=1
gtid-strict-mode=ON
innodb_buffer_pool_size=150M
innodb_log_file_size=50M
`,
)
execFileSync('mariadb-install-db', [`--defaults-file=${cnf}`, `--user=${RUN_USER}`, '--skip-test-db', '--auth-root-authentication-method=socket'], { stdio: 'ignore' })
const server = spawn('mariadbd', [`--defaults-file=${cnf}`], { stdio: 'ignore' })
let archiver
const cleanup = async () => {
  await archiver?.stop()
  server.kill('SIGTERM')
  await new Promise((r) => (server.exitCode === null ? server.once('exit', r) : r()))
  rmSync(base, { recursive: true, force: true })
}
try {
  await until(async () => {
    try {
      const c = await createConnection({ socketPath: socket, user: 'root' })
      await c.end()
      return true
    } catch {
      return false
    }
  }, 120_000)
  const admin = await createConnection({ socketPath: socket, user: 'root' })
  await admin.query('CREATE DATABASE b')
  await admin.query('CREATE TABLE b.t (id BIGINT AUTO_INCREMENT PRIMARY KEY, v INT, ts DATETIME(6))')

  /** Writes/s of CONNS connections inserting one row per transaction for SECONDS. */
  async function writes() {
    const conns = await Promise.all(Array.from({ length: CONNS }, () => createConnection({ socketPath: socket, user: 'root' })))
    let n = 0
    const end = performance.now() + SECONDS * 1000
    await Promise.all(
      conns.map(async (c) => {
        while (performance.now() < end) {
          await c.query('INSERT INTO b.t (v, ts) VALUES (?, NOW(6))', [n])
          n++
        }
      }),
    )
    const s = (performance.now() - end + SECONDS * 1000) / 1000
    await Promise.all(conns.map((c) => c.end()))
    return n / s
  }

  const ctx = { archiveDir: paths.archive, paths: { ...paths, base }, user, socket }
  const lags = []
  const sides = {
    sync0: async () => {
      await admin.query('SET GLOBAL sync_binlog=0')
      try {
        return await writes()
      } finally {
        await admin.query('SET GLOBAL sync_binlog=1')
      }
    },
    sync1: () => writes(),
    tool: async () => {
      // mariadb-binlog alone, as the archiver ran it until session 17 (as root here, over the socket): the stream's own share.
      const dir = join(base, `tool-${results.tool.length}`)
      mkdirSync(dir, { mode: 0o700 })
      const tool = spawn('mariadb-binlog', ['--no-defaults', `--socket=${socket}`, '-uroot', '--read-from-remote-server', '--raw', '--stop-never', `--result-file=${dir}/`, st0.File], {
        stdio: 'ignore',
      })
      try {
        return await writes()
      } finally {
        tool.kill('SIGTERM')
        await new Promise((r) => (tool.exitCode === null ? tool.once('exit', r) : r()))
        rmSync(dir, { recursive: true, force: true })
      }
    },
    archiver: async () => {
      // The archiver in a process of its own, as in the agent (not in the writers' event loop); ready once it
      // streams and has sealed what the other sides wrote meanwhile (an agent's archiver runs all along).
      const code = `
        const { readdirSync } = await import('node:fs')
        const { MariadbArchiver } = await import(${JSON.stringify(join(ROOT, 'dist/agent/datastores/mariadb/archive.js'))})
        const { mariadbClient } = await import(${JSON.stringify(join(ROOT, 'dist/agent/datastores/mariadb/driver.js'))})
        const ctx = JSON.parse(process.env.ARCHIVER_CTX)
        const a = new MariadbArchiver({ ...ctx, db: mariadbClient(ctx.socket), bin: (n) => n, log: () => {} })
        await a.start()
        const sealed = () => { const n = readdirSync(ctx.archiveDir); return n.filter((f) => /^mysql-bin[.][0-9]+$/.test(f)).sort().slice(0, -1).every((f) => n.includes(f + '.seg.json')) }
        const ready = setInterval(() => { if (a.status().state === 'streaming' && sealed()) { clearInterval(ready); process.stdout.write('ready\\n') } }, 10)
        process.once('SIGTERM', async () => { await a.stop(); process.exit(0) })
      `
      archiver = spawn(process.execPath, ['--jitless', '--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ARCHIVER_CTX: JSON.stringify(ctx) } })
      archiver.stop = async () => {
        archiver.kill('SIGTERM')
        await new Promise((r) => (archiver.exitCode === null ? archiver.once('exit', r) : r()))
      }
      await new Promise((resolve, reject) => {
        archiver.stdout.on('data', (b) => b.toString().includes('ready') && resolve())
        archiver.once('exit', (c) => reject(new Error(`the archiver exited (${c})`)))
      })
      const w = await writes()
      // How far behind the archive was when the writers stopped, and the time to catch up.
      const [st] = await admin.query('SHOW MASTER STATUS')
      const t0 = performance.now()
      const file = join(paths.archive, st.File)
      let behind
      await until(() => {
        const size = (() => {
          try {
            return statSync(file).size
          } catch {
            return 0
          }
        })()
        behind ??= Number(st.Position) - size
        return size >= Number(st.Position)
      }, 60_000)
      lags.push({ bytes: behind, ms: performance.now() - t0 })
      await archiver.stop()
      archiver = undefined
      await admin.query('FLUSH BINARY LOGS')
      return w
    },
  }
  const results = { sync0: [], sync1: [], tool: [], archiver: [] }
  let st0
  for (let i = 0; i < RUNS; i++) {
    ;[st0] = await admin.query('SHOW MASTER STATUS')
    const order = i % 2 ? ['archiver', 'tool', 'sync1', 'sync0'] : ['sync0', 'sync1', 'tool', 'archiver']
    for (const k of order) results[k].push(await sides[k]())
    process.stdout.write(`run ${i + 1}: ${order.map((k) => `${k} ${results[k].at(-1).toFixed(0)}/s`).join(', ')}\n`)
  }
  await admin.end()
  const m = Object.fromEntries(Object.entries(results).map(([k, v]) => [k, median(v)]))
  const syncRatio = m.sync1 / m.sync0
  const archRatio = m.archiver / m.sync1
  const fmt = (v) => `${median(v).toFixed(0)}/s (${Math.min(...v).toFixed(0)}-${Math.max(...v).toFixed(0)})`
  const body = `\`node bench/binlog-archive.mjs\` (BENCH_RUNS=${RUNS}, BENCH_SECONDS=${SECONDS}, BENCH_CONNS=${CONNS}; medians, range in brackets) on ${machine()}.
The machine is shared with other work: figures vary between runs.

A scratch mariadbd with the agent's binlog settings (ROW, CRC32, gtid-strict-mode), ${CONNS} connections each inserting
one row per autocommit transaction for ${SECONDS} s; the sides alternate which goes first.

| side | writes/s | ratio | goal | verdict |
|---|---|---|---|---|
| sync_binlog=0 (engine default), no archiver | ${fmt(results.sync0)} | 1.00x | | |
| sync_binlog=1 (the agent's), no archiver | ${fmt(results.sync1)} | ${syncRatio.toFixed(2)}x of sync_binlog=0 | (the price of RPO) | ${syncRatio >= 0.9 ? 'cheap' : 'costly'} |
| sync_binlog=1 with mariadb-binlog alone (no agent) | ${fmt(results.tool)} | ${(m.tool / m.sync1).toFixed(2)}x of without | | |
| sync_binlog=1 with the archiver | ${fmt(results.archiver)} | ${archRatio.toFixed(2)}x of without | >= 0.9x | ${archRatio >= 0.9 ? 'met' : 'not met'} |

- The archiver is the agent's own class, in a process of its own as in the agent (\`--jitless\`, as the agent runs:
  the binlog files' new bytes copied every 200 ms up to SHOW MASTER STATUS's position, sealing each rotated file with
  its sha256 and commit times); "mariadb-binlog alone" is \`mariadb-binlog --read-from-remote-server --raw
  --stop-never\` over the socket, the stream the archiver was until session 17, without the agent's part.
- When the writers stopped, the archive was behind by ${median(lags.map((l) => l.bytes)).toFixed(0)} bytes (median) and caught up in ${median(lags.map((l) => l.ms)).toFixed(0)} ms (median):
  the RPO of a kill -9 of the whole instance at that moment (test/e2e/pitr-mariadb.ts measures it directly, within its 1 s bound).
- Verdict, archiver: the goal is ${archRatio >= 0.9 ? 'met' : 'not met'} at the medians (${archRatio.toFixed(2)}x); mind the ranges, the machine's noise. Each
  archiver side starts its archiver anew, and measures once it has copied and sealed what the other sides wrote
  meanwhile (an agent's archiver runs all along).
- Verdict, sync_binlog=1: it is the costly part (each group commit fsyncs the binlog besides InnoDB's redo log).
  A kill -9 of the engine loses nothing either way (the page cache keeps what was written); a host crash with
  sync_binlog=0 can lose acknowledged transactions from the binlog, so from the archive and replicas, while InnoDB
  kept them. The agent sets 1; a configuration group may set 0 to trade that for throughput.`
  writeSection('binlog-archive', 'MariaDB binlog archiving: sync_binlog and the archiver on a write-heavy instance', body)
  process.stdout.write(`${body}\n`)
} finally {
  await cleanup()
}
