// Replication figures per engine, through the API of a real `trove server` with real engines:
// replica create -> ACTIVE (source holding BENCH_REPL_ROWS rows/keys) and promote -> done (the
// replica is the source, the old primary follows it, every task NONE). Each run builds a fresh
// source, then detaches and deletes everything. Knobs: BENCH_REPL_RUNS (3), BENCH_REPL_ROWS (10000),
// BENCH_REPL_ENGINES (mariadb,postgresql,redis). Run with `npm run bench` (or `node bench/replication.mjs`
// after a build). Writes its section of BENCHMARKS.md.
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { machine, median, sleep, writeSection } from './lib.mjs'
import { apiClient, deleteAll, login, startTroveServer, stopChild, today, unlimitedQuota, waitAll, withRoot } from './harness.mjs'

const RUNS = Number(process.env.BENCH_REPL_RUNS ?? 3)
const ROWS = Number(process.env.BENCH_REPL_ROWS ?? 10_000)
const ENGINES = (process.env.BENCH_REPL_ENGINES ?? 'mariadb,postgresql,redis').split(',')
const PSQL = '/usr/lib/postgresql/15/bin/psql'

/** Loads ROWS rows (a table) or keys into the source with the engine's own client. */
function load(engine, ip, dir) {
  const r =
    engine === 'mariadb'
      ? spawnSync('mariadb', ['--no-defaults', '-h', ip, '-u', 'u1', 'd1'], {
          input: `CREATE TABLE t (id int primary key, v varchar(40));\nINSERT INTO t SELECT seq, md5(seq) FROM seq_1_to_${ROWS};\n`,
          encoding: 'utf8',
          env: { ...process.env, MYSQL_PWD: 'Bench-pw-1' },
        })
      : engine === 'postgresql'
        ? spawnSync(PSQL, ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-h', ip, '-U', 'u1', '-d', 'd1'], {
            input: `CREATE TABLE t (id int primary key, v text);\nINSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, ${ROWS}) g;\n`,
            encoding: 'utf8',
            env: { ...process.env, PGPASSWORD: 'Bench-pw-1' },
          })
        : spawnSync('redis-cli', ['-s', join(dir, 'run/redis.sock'), '--pipe'], {
            input: Array.from({ length: ROWS }, (_, i) => `SET k${i} v${i}\r\n`).join(''),
            encoding: 'utf8',
            env: { ...process.env, REDISCLI_AUTH: readFileSync(join(dir, 'conf/admin.secret'), 'utf8').trim() },
          })
  if (r.status !== 0) throw new Error(`${engine}: loading rows failed: ${r.stderr}`)
}

async function until(check, timeoutMs = 300_000) {
  const end = Date.now() + timeoutMs
  for (;;) {
    if (await check()) return
    if (Date.now() > end) throw new Error('timed out')
    await sleep(100)
  }
}

await withRoot('trove-bench-repl', async (root, onCleanup) => {
  const dataDir = join(root, 'lab')
  const server = await startTroveServer(dataDir)
  onCleanup(() => stopChild(server.child))
  const auth = await login(server.url, server.cloudsFile)
  await unlimitedQuota(server.url, server.cloudsFile, auth.project)
  const { api } = apiClient(server.url, auth)
  const show = async (id) => (await api('GET', `/instances/${id}`)).body.instance
  const rows = []
  for (const engine of ENGINES) {
    const creates = []
    const promotes = []
    for (let run = 0; run < RUNS; run++) {
      const sql = engine !== 'redis'
      const body = {
        name: `bench-${engine}-${run}`,
        flavorRef: '1',
        volume: { size: 1 },
        datastore: { type: engine },
        ...(sql ? { databases: [{ name: 'd1' }], users: [{ name: 'u1', password: 'Bench-pw-1', databases: [{ name: 'd1' }] }] } : {}),
      }
      const src = (await api('POST', '/instances', { instance: body })).body.instance
      await waitAll(api, [src.id], 'ACTIVE', 180_000)
      load(engine, src.ip[0], join(dataDir, 'instances', src.id))

      const t0 = performance.now()
      const rep = await api('POST', '/instances', { instance: { name: `bench-${engine}-${run}-rep`, replica_of: src.id } })
      if (rep.status !== 200) throw new Error(`replica create: ${rep.status} ${JSON.stringify(rep.body)}`)
      const repId = rep.body.instance.id
      await waitAll(api, [repId], 'ACTIVE', 300_000)
      creates.push(performance.now() - t0)

      const t1 = performance.now()
      const pr = await api('POST', `/instances/${repId}/action`, { promote_to_replica_source: {} })
      if (pr.status !== 202) throw new Error(`promote: ${pr.status} ${JSON.stringify(pr.body)}`)
      await until(async () => {
        const [a, b] = [await show(repId), await show(src.id)]
        if (a.status === 'ERROR' || b.status === 'ERROR') throw new Error(`promote failed: ${JSON.stringify(a.fault ?? b.fault)}`)
        return a.status === 'ACTIVE' && !a.replica_of && b.status === 'ACTIVE' && b.replica_of?.id === repId
      })
      promotes.push(performance.now() - t1)

      const det = await api('PUT', `/instances/${src.id}`, { instance: { replica_of: null } })
      if (det.status !== 202) throw new Error(`detach: ${det.status} ${JSON.stringify(det.body)}`)
      await until(async () => {
        const s = await show(src.id)
        return s.status === 'ACTIVE' && !s.replica_of
      })
      await deleteAll(api, [src.id, repId])
      process.stdout.write(`${engine} run ${run + 1}: replica ${(creates.at(-1) / 1000).toFixed(2)} s, promote ${(promotes.at(-1) / 1000).toFixed(2)} s\n`)
    }
    const s = (xs) => `${(median(xs) / 1000).toFixed(2)} s (${(Math.min(...xs) / 1000).toFixed(2)}–${(Math.max(...xs) / 1000).toFixed(2)})`
    rows.push(`| ${engine} | ${ROWS} | ${s(creates)} | ${s(promotes)} | ${RUNS} |`)
  }
  writeSection(
    'replication',
    'Replication: replica create and promote',
    [
      `Measured ${today()} on ${machine()} with \`node bench/replication.mjs\` (BENCH_REPL_RUNS=${RUNS}, BENCH_REPL_ROWS=${ROWS}).`,
      "Replica create → ACTIVE: POST /instances {replica_of} until the replica is ACTIVE (the source's snapshot call, the agent's start, seeding — pg_basebackup, mariadb-dump piped into the replica, Redis full sync — and the attach). Promote → done: the promote action until the replica is the source, the old primary follows it and every task is NONE (PostgreSQL includes pg_rewind and a restart of the old primary). Median (min–max) over the runs; each run starts from a fresh source.",
      '',
      '| engine | rows/keys in the source | replica create → ACTIVE | promote → done | runs |',
      '|---|---|---|---|---|',
      ...rows,
    ].join('\n'),
  )
})
