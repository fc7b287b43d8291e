// Point-in-time recovery (issue 15 item 6), per engine: `node bench/pitr.mjs [postgresql|mariadb]` after a
// build (default postgresql). On one instance of the engine in a fresh lab:
// - the archiver's cost: commits/s of BENCH_WRITERS (default 4) connections committing one-row
//   transactions as fast as they can for BENCH_SECONDS (default 8), with archiving off (backup retention
//   0) and on (retention 1), alternated BENCH_RUNS times (default 3), medians; goal >= 0.9x;
// - RPO: the same writers, each recording the time its commits were acknowledged, then kill -9 of the
//   whole instance (engine, agent and the archiver's own process if it has one: pg_receivewal) while they write; a restore to the
//   latest time; the acknowledged commits missing from it, in ms of commits (newest acknowledged minus
//   newest restored); goal <= 1 s;
// - restore to a time (1 s before the last acknowledged commit before the kill, or the end of the window
//   the server knows if earlier; the kill waits until that window reaches 2 s into the writes) next to a
//   plain restore of the base backup taken before the writes: create -> ACTIVE of each; goal <= 1.5x.
//   The restores to a time and the plain ones alternate BENCH_RUNS times (medians); each restore to a
//   time prints where its agent spent it (copy and sha256 check, the stop scan, the replay).
// BENCH_PART=restore skips the archiver's cost (prints, writes nothing). BENCH_KEEP=1 keeps the work dir
// (server.log, agents' logs).
import { spawn, spawnSync } from 'node:child_process'
import { appendFileSync, chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { clientFor, machine, median, sleep, until, writeSection, ROOT } from './lib.mjs'

const ENGINE = process.argv[2] ?? 'postgresql'
const WRITERS = Number(process.env.BENCH_WRITERS ?? 4)
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8)
const RUNS = Number(process.env.BENCH_RUNS ?? 3)
const RESTORE_ONLY = process.env.BENCH_PART === 'restore'

/** Per engine: a connection that commits one row per call. */
const ENGINES = {
  postgresql: {
    async connect(ip) {
      const { default: pg } = await import('pg')
      const c = new pg.Client({ host: ip, port: 5432, user: 'u1', password: 'Pw-one-1', database: 'd1' })
      c.on('error', () => {})
      await c.connect()
      return { insert: (w, n) => c.query('INSERT INTO t VALUES ($1, $2)', [w, n]), query: async (sql) => (await c.query(sql)).rows.map((r) => Object.values(r)), end: () => c.end().catch(() => {}) }
    },
    table: 'CREATE TABLE IF NOT EXISTS t (w int, n int, PRIMARY KEY (w, n))',
    pids: (base) => [join(base, 'data/postmaster.pid'), join(base, 'run/pg_receivewal.pid')],
  },
  mariadb: {
    async connect(ip) {
      const { default: mariadb } = await import('mariadb')
      const c = await mariadb.createConnection({ host: ip, port: 3306, user: 'u1', password: 'Pw-one-1', database: 'd1' })
      // The engine is killed -9 mid-write: the connection's error is expected, not a crash of the bench.
      c.on('error', () => {})
      return {
        insert: (w, n) => c.query('INSERT INTO t VALUES (?, ?)', [w, n]),
        // A statement without rows (CREATE TABLE) answers an OK packet, not an array.
        query: async (sql) => {
          const r = await c.query({ sql, rowsAsArray: true })
          return Array.isArray(r) ? r.map((row) => row.map(Number)) : []
        },
        end: () => c.end().catch(() => {}),
      }
    },
    table: 'CREATE TABLE IF NOT EXISTS t (w int, n int, PRIMARY KEY (w, n))',
    // The engine's pid file (mariadb/service.ts); the archiver is the agent's own (mariadb/archive.ts: a tail of the binlog files).
    pids: (base) => [join(base, 'run/mysqld.pid')],
  },
}
const E = ENGINES[ENGINE]
if (!E) throw new Error(`usage: node bench/pitr.mjs [${Object.keys(ENGINES).join('|')}]`)

function startServer(dataDir) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, 'bin/trove'), 'server', '--data-dir', dataDir, '--port', '0', '--rate-limits', 'none'], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    const on = (b) => {
      appendFileSync(join(dataDir, '..', 'server.log'), b)
      out += b
      if (/listening on/.test(out) && out.includes('use it:')) resolve(child)
    }
    child.stdout.on('data', on)
    child.stderr.on('data', on)
    child.once('exit', (c) => reject(new Error(`server exited ${c}: ${out}`)))
  })
}

/** WRITERS connections committing for `ms`, or until `stop()`; each records (n, acknowledged at). */
async function write(ip, ms, offset = 0) {
  const conns = await Promise.all(Array.from({ length: WRITERS }, () => E.connect(ip)))
  const acks = conns.map(() => [])
  let stopped = false
  const end = Date.now() + ms
  const loops = conns.map(async (c, w) => {
    try {
      for (let n = offset + 1; !stopped && Date.now() < end; n++) {
        await c.insert(w, n)
        acks[w].push([n, Date.now()])
      }
    } catch {
      /* the engine went (the kill) */
    }
  })
  const done = Promise.all(loops).then(() => Promise.all(conns.map((c) => c.end())))
  return { acks, done, stop: () => (stopped = true) }
}

const dir = mkdtempSync('/tmp/tvpitr.')
chmodSync(dir, 0o711)
const dataDir = join(dir, 'lab')
const server = await startServer(dataDir)
const sdk = await clientFor(join(dataDir, 'clouds.yaml'))
const active = async (id) => {
  await until(
    async () => {
      const i = await sdk.instances.get(id)
      if (i.status === 'ERROR') throw new Error(`instance ${id} is ERROR: ${i.fault?.message}`)
      return i.status === 'ACTIVE'
    },
    600_000,
    50,
  )
  return sdk.instances.get(id)
}
const createTimed = async (body) => {
  const t0 = performance.now()
  const i = await sdk.instances.create({ flavorRef: '1', volume: { size: 2 }, ...body })
  const got = await active(i.id)
  return { inst: got, ms: performance.now() - t0 }
}
try {
  const { inst: src } = await createTimed({ name: 'src', datastore: { type: ENGINE }, databases: [{ name: 'd1' }], users: [{ name: 'u1', password: 'Pw-one-1', databases: [{ name: 'd1' }] }] })
  const ip = src.ip[0]
  const c = await E.connect(ip)
  await c.query(E.table)
  await c.end()
  const archiveState = async () => (await sdk.instances.get(src.id)).archive?.state
  await until(async () => (await archiveState()) === 'streaming', 60_000, 100)

  // Cost: commits/s with the archiver off and on, alternated.
  const rates = { off: [], on: [] }
  let offset = 0
  for (let r = 0; r < (RESTORE_ONLY ? 0 : RUNS); r++) {
    for (const mode of ['off', 'on']) {
      await sdk.instances.update(src.id, { backup_retention: { days: mode === 'on' ? 1 : 0 } })
      await until(async () => ((await archiveState()) === 'off') === (mode === 'off') && (mode === 'off' || (await archiveState()) === 'streaming'), 60_000, 100)
      const run = await write(ip, SECONDS * 1000, offset)
      await run.done
      const n = run.acks.reduce((s, a) => s + a.length, 0)
      offset += 1_000_000
      rates[mode].push(n / SECONDS)
    }
  }
  const off = RESTORE_ONLY ? Number.NaN : median(rates.off)
  const on = RESTORE_ONLY ? Number.NaN : median(rates.on)

  // A base backup, then writers, kill -9 of the whole instance while they write, restores.
  const backup = await sdk.backups.create({ name: 'base', instance: src.id })
  await until(async () => (await sdk.backups.get(backup.id)).status === 'COMPLETED', 300_000, 100)
  const run = await write(ip, 60_000, offset)
  const writing = Date.now()
  await new Promise((r) => setTimeout(r, 3000))
  // The server learns the archive's progress from heartbeats (every 5 s): the kill waits until its
  // window reaches 2 s into the writes, so that the restore to a time has log to replay (before, a
  // kill 3 s in could find the window still at the backup, and T was refused as past its end).
  await until(async () => Date.parse((await sdk.instances.get(src.id)).latest_restorable_time ?? 0) >= writing + 2000, 60_000, 50)
  const base = join(dataDir, 'instances', src.id)
  const pids = [join(base, 'agent.pid'), ...E.pids(base)].map((f) => {
    try {
      return Number.parseInt(readFileSync(f, 'utf8'), 10)
    } catch {
      return undefined
    }
  })
  for (const pid of pids) if (pid) process.kill(pid, 'SIGKILL')
  run.stop()
  await run.done
  const lastAck = Math.max(...run.acks.map((a) => a.at(-1)?.[1] ?? 0))
  // 1 s before the last acknowledged commit, or the window's end if that is earlier (the last heartbeat before the kill).
  const T = new Date(Math.min(lastAck - 1000, Date.parse((await sdk.instances.get(src.id)).latest_restorable_time))).toISOString()

  const latest = await createTimed({ name: 'latest', restorePoint: { instanceRef: src.id, latest: true } })
  const lc = await E.connect(latest.inst.ip[0])
  const have = new Map((await lc.query('SELECT w, max(n) FROM t GROUP BY w')).map(([w, n]) => [Number(w), Number(n)]))
  await lc.end()
  let rpo = 0
  let missing = 0
  run.acks.forEach((a, w) => {
    const kept = have.get(w) ?? 0
    const lost = a.filter(([n]) => n > kept)
    missing += lost.length
    if (lost.length) rpo = Math.max(rpo, a.at(-1)[1] - (a.filter(([n]) => n <= kept).at(-1)?.[1] ?? a[0][1]))
  })
  // Alternated, medians: one pair of restores is at the mercy of the machine's load.
  const times = { atT: [], plain: [] }
  for (let r = 0; r < RUNS; r++) {
    const a = await createTimed({ name: `at-t-${r}`, restorePoint: { instanceRef: src.id, restoreTime: T } })
    times.atT.push(a.ms)
    const said = readFileSync(join(dataDir, 'instances', a.inst.id, 'agent.log'), 'utf8').match(/restore: replayed .*/)
    process.stdout.write(`restore to a time ${(a.ms / 1000).toFixed(1)} s; agent: ${said?.[0] ?? '(no replay line)'}\n`)
    const p = await createTimed({ name: `plain-${r}`, restorePoint: { backupRef: backup.id } })
    times.plain.push(p.ms)
    // Not kept running while the next pair is measured.
    await sdk.instances.delete(a.inst.id)
    await sdk.instances.delete(p.inst.id)
    process.stdout.write(`plain restore ${(times.plain.at(-1) / 1000).toFixed(1)} s\n`)
  }
  const atT = { ms: median(times.atT) }
  const plain = { ms: median(times.plain) }
  const acked = run.acks.reduce((s, a) => s + a.length, 0)

  const verdict = (okay) => (okay ? 'met' : 'NOT met')
  const body = `\`node bench/pitr.mjs ${ENGINE}\` (${WRITERS} writers, ${SECONDS} s per throughput run, median of ${RUNS} alternated runs; ${machine()}).

| figure | value | goal | verdict |
|---|---|---|---|
| commits/s, archiving off | ${off.toFixed(0)} | | |
| commits/s, archiving on | ${on.toFixed(0)} (${(on / off).toFixed(2)}x) | >= 0.9x | ${verdict(on / off >= 0.9)} |
| RPO after kill -9 of engine, agent and archiver, restore to latest | ${rpo} ms of commits (${missing} of ${acked} acknowledged commits missing) | <= 1000 ms | ${verdict(rpo <= 1000)} |
| restore to a time (median of ${RUNS}; ${((lastAck - Date.parse(T)) / 1000).toFixed(0)} s before the kill, ${((Date.parse(T) - Date.parse((await sdk.backups.get(backup.id)).created + 'Z')) / 1000).toFixed(0)} s of log after the backup) | ${(atT.ms / 1000).toFixed(1)} s create -> ACTIVE | <= 1.5x plain | ${verdict(atT.ms <= 1.5 * plain.ms)} (${(atT.ms / plain.ms).toFixed(2)}x) |
| plain restore of the same base backup (median of ${RUNS}) | ${(plain.ms / 1000).toFixed(1)} s create -> ACTIVE | | |
| restore to latest | ${(latest.ms / 1000).toFixed(1)} s create -> ACTIVE | | |
`
  if (!RESTORE_ONLY) writeSection(`pitr-${ENGINE}`, `Point-in-time recovery: ${ENGINE}`, body)
  process.stdout.write(body)
} finally {
  server.kill('SIGTERM')
  await new Promise((r) => server.once('exit', r))
  // What the lab started under the work dir (engines, agents, archivers), as bench/backup.mjs does.
  for (let pass = 0; pass < 2; pass++, await sleep(1000))
    spawnSync(
      'sh',
      [
        '-c',
        `for p in $(ls /proc | grep -E '^[0-9]+$'); do readlink /proc/$p/cwd 2>/dev/null | grep -q '^${dir}' && kill -9 $p; tr '\\0' ' ' < /proc/$p/cmdline 2>/dev/null | grep -q '${dir}' && kill -9 $p; done; true`,
      ],
      { stdio: 'ignore' },
    )
  if (!process.env.BENCH_KEEP) rmSync(dir, { recursive: true, force: true })
  else process.stdout.write(`kept ${dir}\n`)
}
