// Backup and restore of the same data, sandboxed (the agent streams through the server's object store on the
// lab gateway: src/server/object-store/) next to `isolation: 'none'` (the agent writes the directory store
// itself). Two labs in this process; per engine one source instance each, BENCH_ROWS rows (keys) loaded the same
// way, then BENCH_RUNS rounds of: backup (POST /backups until COMPLETED), restore (POST /instances with
// restorePoint until ACTIVE), and a plain create of the same engine (until ACTIVE) so the restore's own part
// (restore minus plain create: the stream and the unpack, not the sandbox's set-up) can be told apart; the two
// labs alternate which goes first. Polls every 10 ms.
// Knobs: BENCH_RUNS (3), BENCH_ROWS (100000), BENCH_ENGINES (redis,mariadb,postgresql). As root, after a build:
// `node bench/sandbox-backup.mjs`.
import { spawnSync } from 'node:child_process'
import { chmodSync, mkdtempSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { clientFor, machine, median, sleep } from './lib.mjs'

const RUNS = Number(process.env.BENCH_RUNS ?? 3)
const ROWS = Number(process.env.BENCH_ROWS ?? 100_000)
const ENGINES = (process.env.BENCH_ENGINES ?? 'redis,mariadb,postgresql').split(',')
const PSQL = '/usr/lib/postgresql/15/bin/psql'
const { buildServer } = await import('../dist/server/index.js')
const { removeSandboxLab } = await import('../dist/server/compute/sandbox-lab.js')

function sql(engine, ip, user, password, input) {
  const r =
    engine === 'mariadb'
      ? spawnSync('mariadb', ['--no-defaults', '-h', ip, '-P', '3306', '-u', user, '-N', '-B', 'd1'], { input, env: { ...process.env, MYSQL_PWD: password }, maxBuffer: 1 << 26 })
      : engine === 'postgresql'
        ? spawnSync(PSQL, ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-h', ip, '-p', '5432', '-U', user, '-d', 'd1'], { input, env: { ...process.env, PGPASSWORD: password }, maxBuffer: 1 << 26 })
        : spawnSync('redis-cli', ['-h', ip, '-p', '6379', '--user', user, '--no-auth-warning', '--pipe'], { input, env: { ...process.env, REDISCLI_AUTH: password }, maxBuffer: 1 << 26 })
  if (r.status !== 0) throw new Error(`${engine}: ${r.stderr}`)
  return r.stdout.toString().trim()
}

function load(engine, ip, user, pw) {
  if (engine === 'mariadb') sql(engine, ip, user, pw, `CREATE TABLE t (id int primary key, v varchar(100)); INSERT INTO t SELECT seq, repeat('x', 100) FROM seq_1_to_${ROWS};`)
  else if (engine === 'postgresql') sql(engine, ip, user, pw, `CREATE TABLE t (id int primary key, v text); INSERT INTO t SELECT g, repeat('x', 100) FROM generate_series(1, ${ROWS}) g;`)
  else {
    let text = ''
    for (let i = 0; i < ROWS; i++) text += `SET k${i} ${'x'.repeat(100)}\r\n`
    sql(engine, ip, user, pw, text)
  }
}

async function lab(isolation) {
  const dir = mkdtempSync('/tmp/tv-bench-sbk.')
  chmodSync(dir, 0o711)
  // No rate limits: the 10 ms polls are ~100 GETs a second, and past the default 200 a minute each answer was a 429
  // whose Retry-After (1 s) the SDK waited out: the sandbox's figures had ~0.6 s of that in them (session 18).
  const server = await buildServer({ dataDir: join(dir, 'lab'), host: '127.0.0.1', port: 0, isolation, reconcileMs: 0, rateLimits: [], log: () => {} })
  const { cloudsFile } = await server.start()
  return { dir, server, isolation, client: await clientFor(cloudsFile) }
}

async function active(client, id) {
  for (;;) {
    const i = await client.instances.get(id)
    if (i.status === 'ACTIVE') return i
    if (i.status !== 'BUILD') throw new Error(`instance ${id}: ${i.status}`)
    await sleep(10)
  }
}

async function completed(client, id) {
  for (;;) {
    const b = await client.backups.get(id)
    if (b.status === 'COMPLETED') return b
    if (!['NEW', 'BUILDING', 'SAVING'].includes(b.status)) throw new Error(`backup ${id}: ${b.status}`)
    await sleep(10)
  }
}

const USERS = { databases: [{ name: 'd1' }], users: [{ name: 'u1', password: 'Pw-one-1', databases: [{ name: 'd1' }] }] }

async function source(l, engine) {
  const inst = await l.client.instances.create({ name: `src-${engine}`, flavorRef: '2', volume: { size: 2 }, datastore: { type: engine }, ...(engine === 'redis' ? {} : USERS) })
  const a = await active(l.client, inst.id)
  const pw = engine === 'redis' ? (await l.client.root.enable(inst.id)).password : 'Pw-one-1'
  load(engine, a.ip[0], engine === 'redis' ? 'root' : 'u1', pw)
  return inst.id
}

async function round(l, engine, src, i) {
  const c = l.client
  let t0 = performance.now()
  const b = await completed(c, (await c.backups.create({ name: `b${i}`, instance: src })).id)
  const backup = performance.now() - t0
  t0 = performance.now()
  const r = await c.instances.create({ name: `r${i}`, flavorRef: '2', volume: { size: 2 }, datastore: { type: engine }, restorePoint: { backupRef: b.id } })
  await active(c, r.id)
  const restore = performance.now() - t0
  t0 = performance.now()
  const p = await c.instances.create({ name: `p${i}`, flavorRef: '2', volume: { size: 2 }, datastore: { type: engine }, ...(engine === 'redis' ? {} : USERS) })
  await active(c, p.id)
  const plain = performance.now() - t0
  for (const id of [r.id, p.id]) await c.instances.delete(id)
  await c.backups.delete(b.id)
  return { backup, restore, plain, size: b.size }
}

const labs = [await lab('none'), await lab('sandbox')]
const rows = []
try {
  console.log(machine())
  for (const engine of ENGINES) {
    const srcs = []
    for (const l of labs) srcs.push(await source(l, engine))
    // One untimed round each (the first backup after the bulk load pays for the engine catching up).
    for (const [k, l] of labs.entries()) await round(l, engine, srcs[k], 'w')
    const got = labs.map(() => ({ backup: [], restore: [], own: [], size: 0 }))
    for (let i = 0; i < RUNS; i++) {
      const order = i % 2 ? [1, 0] : [0, 1]
      for (const k of order) {
        const r = await round(labs[k], engine, srcs[k], i)
        got[k].backup.push(r.backup)
        got[k].restore.push(r.restore)
        got[k].own.push(r.restore - r.plain)
        got[k].size = r.size
      }
    }
    const [n, s] = got.map((g) => ({ backup: median(g.backup), restore: median(g.restore), own: median(g.own), size: g.size }))
    const row = `| ${engine} | ${(n.backup / 1000).toFixed(2)} s | ${(s.backup / 1000).toFixed(2)} s | ${(s.backup / n.backup).toFixed(2)}x | ${(n.restore / 1000).toFixed(2)} s | ${(s.restore / 1000).toFixed(2)} s | ${(s.restore / n.restore).toFixed(2)}x | ${(n.own / 1000).toFixed(2)} s | ${(s.own / 1000).toFixed(2)} s | ${((s.size ?? 0) * 1024).toFixed(1)} MB |`
    console.log(row)
    rows.push(row)
  }
  console.log('| engine | backup: none (directory) | sandbox (stream) | ratio | restore: none | sandbox | ratio | restore minus plain create: none | sandbox | backup size |')
  for (const r of rows) console.log(r)
} finally {
  for (const l of labs) {
    if (l.isolation === 'sandbox') await removeSandboxLab(l.server.lab.compute).catch((e) => console.error(e.message))
    await l.server.close()
    rmSync(l.dir, { recursive: true, force: true })
  }
}
