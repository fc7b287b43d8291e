// Backup and restore per engine, on the same data (BENCH_ROWS rows/keys, default 100k), next to the
// engine's own tool run by hand: mariadb-backup (xbstream to a file) / mbstream + prepare + move-back
// + start; pg_basebackup -Ft -Xfetch to a file / untar + start; BGSAVE + copy / copy + start.
// Run with `npm run bench` (BENCH_ONLY=backup) or `node bench/backup.mjs` after a build.
import { spawn, execFileSync } from 'node:child_process'
import { appendFileSync, chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, copyFileSync, statSync, openSync, closeSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { parse } from 'yaml'
import { TroveClient } from '../dist/sdk/index.js'
import { median, machine, sleep, writeSection, ROOT } from './lib.mjs'

const RUNS = Number(process.env.BENCH_RUNS ?? 3)
const ROWS = Number(process.env.BENCH_ROWS ?? 100_000)
const USER = 'troveguest'
const PGBIN = '/usr/lib/postgresql/15/bin'

const freePort = () => new Promise((resolve) => { const s = createServer(); s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)) }) })
const ok = (cmd, args, opts = {}) => { try { execFileSync(cmd, args, { stdio: 'pipe', ...opts }); return true } catch { return false } }
const asUser = (args) => ['setpriv', `--reuid=${USER}`, `--regid=${USER}`, '--init-groups', '--', ...args]
const run = (cmd, args, opts = {}) => execFileSync(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], maxBuffer: 1 << 26, ...opts }).toString()
async function until(check, timeoutMs = 120_000, everyMs = 10) {
  const end = Date.now() + timeoutMs
  let last
  for (;;) {
    try { if (await check()) return } catch (e) { last = e }
    if (Date.now() > end) throw new Error(`timed out${last ? ` (${last.message})` : ''}: ${check.toString().slice(0, 120)}`)
    await sleep(everyMs)
  }
}
/** Runs `cmd` with stdout into `file` (the tool "by hand", streamed to a file). */
function toFile(cmd, args, file) {
  const fd = openSync(file, 'w', 0o600)
  try { execFileSync(cmd, args, { stdio: ['ignore', fd, 'pipe'], maxBuffer: 1 << 26 }) } finally { closeSync(fd) }
}

function startServer(dataDir) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, 'bin/trove'), 'server', '--data-dir', dataDir, '--port', '0', '--rate-limits', 'none'], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    const logFile = join(dataDir, '..', 'server.log')
    const on = (b) => { try { appendFileSync(logFile, b) } catch { /* best effort */ } out += b; const m = /listening on (http:\/\/\S+)/.exec(out); if (m && out.includes('use it:')) resolve({ child, url: m[1] }) }
    child.stdout.on('data', on); child.stderr.on('data', on)
    child.once('exit', (c) => reject(new Error(`server exited ${c}: ${out}`)))
  })
}
function clientFor(cloudsFile) {
  const a = parse(readFileSync(cloudsFile, 'utf8')).clouds['trove-lab'].auth
  return new TroveClient({ auth: { authType: 'password', authUrl: a.auth_url, username: a.username, password: a.password, projectName: a.project_name, userDomainName: 'Default', projectDomainName: 'Default', interface: 'public' } })
}

/** Per engine: load the data into an instance, and the by-hand backup and restore. */
const ENGINES = {
  mariadb: {
    load(base) {
      run('mariadb', [`--defaults-file=${base}/conf/my.cnf`, '-uroot'], { input: `CREATE DATABASE b; USE b; CREATE TABLE b.t (id int primary key, v varchar(40)); INSERT INTO b.t SELECT seq, md5(seq) FROM seq_1_to_${ROWS};` })
    },
    count: (base) => Number(run('mariadb', [`--defaults-file=${base}/conf/my.cnf`, '-uroot', '-N', '-B'], { input: 'SELECT count(*) FROM b.t;' }).trim()),
    backup(base, file, work) {
      mkdirSync(work, { recursive: true })
      toFile('mariadb-backup', [`--defaults-file=${base}/conf/my.cnf`, '--backup', '--user=root', '--stream=xbstream', `--target-dir=${work}`], file)
    },
    async restore(file, dir) {
      const w = join(dir, 'w'); const data = join(dir, 'data')
      for (const d of [w, data, join(dir, 'run'), join(dir, 'tmp')]) mkdirSync(d, { recursive: true })
      execFileSync('mbstream', ['-x', '-C', w], { input: readFileSync(file) })
      run('mariadb-backup', ['--no-defaults', '--prepare', `--target-dir=${w}`])
      run('mariadb-backup', ['--no-defaults', '--move-back', `--target-dir=${w}`, `--datadir=${data}`])
      execFileSync('chown', ['-R', `${USER}:${USER}`, dir])
      const port = await freePort()
      const cnf = join(dir, 'my.cnf')
      writeFileSync(cnf, `[mysqld]\nuser=${USER}\ndatadir=${data}\ntmpdir=${dir}/tmp\nport=${port}\nbind-address=127.0.0.1\nsocket=${dir}/run/s.sock\npid-file=${dir}/run/p.pid\nlog-error=${dir}/error.log\nskip-name-resolve\ninnodb-log-file-size=50M\n`)
      const p = spawn('mariadbd', [`--defaults-file=${cnf}`], { stdio: 'ignore' })
      await until(() => ok('mariadb-admin', ['--no-defaults', `--socket=${dir}/run/s.sock`, '-uroot', 'ping']), 60_000).catch((e) => { throw new Error(`${e.message}: ${readFileSync(`${dir}/error.log`, 'utf8').split('\n').filter((l) => /ERROR/.test(l)).slice(-3).join(' | ')}`) })
      return p
    },
  },
  postgresql: {
    psql: (base, sql) => run('setpriv', asUser([join(PGBIN, 'psql'), '-X', '-q', '-At', '-h', `${base}/run`, '-p', '5432', '-U', 'postgres', '-d', 'postgres', '-c', sql])),
    load(base) { this.psql(base, `CREATE TABLE t AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, ${ROWS}) g; ALTER TABLE t ADD PRIMARY KEY (id);`) },
    count(base) { return Number(this.psql(base, 'SELECT count(*) FROM t;').trim()) },
    backup(base, file) {
      toFile('setpriv', asUser([join(PGBIN, 'pg_basebackup'), '-h', `${base}/run`, '-p', '5432', '-U', 'postgres', '-D', '-', '-Ft', '-Xfetch', '-c', 'fast', '--no-manifest']), file)
    },
    async restore(file, dir) {
      const data = join(dir, 'data')
      mkdirSync(data, { recursive: true }); mkdirSync(join(dir, 'run'))
      execFileSync('chown', ['-R', `${USER}:${USER}`, dir])
      chmodSync(file, 0o644)
      execFileSync('setpriv', asUser(['tar', '-x', '-f', file, '-C', data]))
      chmodSync(data, 0o700)
      // The lab keeps its config outside the data dir (engines.md 2): give the copy a minimal one.
      for (const [f, text] of [['postgresql.conf', ''], ['pg_hba.conf', 'local all all trust\n'], ['pg_ident.conf', '']]) writeFileSync(join(data, f), text, { mode: 0o600 })
      execFileSync('chown', ['-R', `${USER}:${USER}`, data])
      const port = await freePort()
      const log = openSync(join(dir, 'pg.log'), 'w')
      const p = spawn('setpriv', asUser([join(PGBIN, 'postgres'), '-D', data, '-p', String(port), '-k', join(dir, 'run'), '-c', 'listen_addresses=', '-c', 'archive_mode=off']), { stdio: ['ignore', log, log] })
      closeSync(log)
      await until(() => ok(join(PGBIN, 'pg_isready'), ['-q', '-h', join(dir, 'run'), '-p', String(port), '-U', 'postgres', '-d', 'postgres']), 60_000)
        .catch((e) => { throw new Error(`${e.message.slice(0, 20)}: ${readFileSync(join(dir, 'pg.log'), 'utf8').slice(-400)}`) })
      return p
    },
  },
  redis: {
    cli: (base, lines) => run('redis-cli', ['-s', `${base}/run/redis.sock`], { input: lines, env: { ...process.env, REDISCLI_AUTH: readFileSync(`${base}/conf/admin.secret`, 'utf8').trim() } }),
    load(base) { this.cli(base, `EVAL "for i=1,${ROWS} do redis.call('SET','k'..i, i) end" 0\n`) },
    count(base) { return Number(this.cli(base, 'DBSIZE\n').trim()) },
    async backup(base, file) {
      const saves = () => Number(/rdb_saves:(\d+)/.exec(this.cli(base, 'INFO persistence\n'))?.[1])
      const before = saves()
      this.cli(base, 'BGSAVE\n')
      await until(() => saves() > before && /rdb_bgsave_in_progress:0/.test(this.cli(base, 'INFO persistence\n')), 60_000, 5)
      copyFileSync(`${base}/data/dump.rdb`, file)
    },
    async restore(file, dir) {
      mkdirSync(dir, { recursive: true })
      copyFileSync(file, join(dir, 'dump.rdb'))
      execFileSync('chown', ['-R', `${USER}:${USER}`, dir])
      const port = await freePort()
      const p = spawn('setpriv', asUser(['redis-server', '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no']), { stdio: 'ignore' })
      await until(() => run('redis-cli', ['-p', String(port), 'ping']).includes('PONG'))
      return p
    },
  },
}

async function main() {
  const root = mkdtempSync('/tmp/tk.')
  chmodSync(root, 0o711)
  const dataDir = join(root, 'lab')
  const rows = []
  let server
  try {
    server = await startServer(dataDir)
    const client = clientFor(join(dataDir, 'clouds.yaml'))
    for (const [engine, e] of Object.entries(ENGINES)) {
      const keepLog = (id, name) => { if (process.env.BENCH_KEEP) try { copyFileSync(join(dataDir, 'instances', id, 'agent.log'), join(root, `${name}.agent.log`)) } catch { /* gone */ } }
      const inst = await client.instances.create({ name: `bench-${engine}`, flavorRef: '2', volume: { size: 2 }, datastore: { type: engine } })
      await until(async () => (await client.instances.get(inst.id)).status === 'ACTIVE', 180_000, 50)
      const base = join(dataDir, 'instances', inst.id)
      e.load(base)
      const ours = { backup: [], restore: [] }, hand = { backup: [], restore: [] }
      let size = 0, handSize = 0, lastBackup
      for (let i = 0; i < RUNS; i++) {
        // Ours: POST /backups -> COMPLETED, then create from it -> ACTIVE.
        let t0 = performance.now()
        const b = await client.backups.create({ name: `b-${engine}-${i}`, instance: inst.id })
        let got
        await until(async () => { got = await client.backups.get(b.id); if (got.status === 'FAILED') throw new Error('backup FAILED'); return got.status === 'COMPLETED' }, 600_000, 20)
        ours.backup.push(performance.now() - t0)
        size = statSync(got.locationRef).size
        lastBackup = b.id
        await until(async () => (await client.instances.get(inst.id)).status === 'ACTIVE', 60_000, 20)
        t0 = performance.now()
        const r = await client.instances.create({ name: `r-${engine}-${i}`, flavorRef: '2', volume: { size: 2 }, restorePoint: { backupRef: b.id } })
        await until(async () => { const s = (await client.instances.get(r.id)).status; if (s === 'ERROR') throw new Error('restore ERROR'); return s === 'ACTIVE' }, 600_000, 20)
        ours.restore.push(performance.now() - t0)
        if (i === 0) { const n = e.count(join(dataDir, 'instances', r.id)); if (n !== ROWS) throw new Error(`${engine}: restored ${n} rows, not ${ROWS}`) }
        keepLog(r.id, `${engine}-restore-${i}`)
        await client.instances.delete(r.id)
        await client.backups.delete(b.id)
        // By hand, on the same instance and data.
        const dir = join(root, `hand-${engine}-${i}`)
        mkdirSync(dir, { recursive: true })
        const file = join(dir, 'backup')
        t0 = performance.now()
        await e.backup(base, file, join(dir, 'work'))
        hand.backup.push(performance.now() - t0)
        handSize = statSync(file).size
        t0 = performance.now()
        const p = await e.restore(file, join(dir, 'restore'))
        hand.restore.push(performance.now() - t0)
        p.kill('SIGTERM'); await new Promise((res) => p.once('exit', res))
        rmSync(dir, { recursive: true, force: true })
      }
      void lastBackup
      keepLog(inst.id, `${engine}-source`)
      await client.instances.delete(inst.id)
      rows.push({ engine, ours, hand, size, handSize })
    }
    const s = (ms) => `${(median(ms) / 1000).toFixed(2)} s`
    const ratio = (a, b) => `${(median(a) / median(b)).toFixed(2)}x`
    const text = [
      `\`node bench/backup.mjs\` (BENCH_ROWS=${ROWS}, BENCH_RUNS=${RUNS}; medians) on ${machine()}.`,
      '',
      'Ours: `POST /backups` until COMPLETED (guest streams the engine tool into the store, MD5 on the way), and',
      '`POST /instances` with restorePoint until ACTIVE (checksum check, unpack/prepare, start, the agent\'s own checks).',
      'By hand: the engine\'s own tool on the same instance and data, streamed to a file; restore = unpack/prepare + start until it answers.',
      '',
      '| engine | backup: ours | by hand | ratio | restore: ours | by hand | ratio | size ours / by hand |',
      '|---|---|---|---|---|---|---|---|',
      ...rows.map((r) => `| ${r.engine} | ${s(r.ours.backup)} | ${s(r.hand.backup)} | ${ratio(r.ours.backup, r.hand.backup)} | ${s(r.ours.restore)} | ${s(r.hand.restore)} | ${ratio(r.ours.restore, r.hand.restore)} | ${(r.size / 2 ** 20).toFixed(1)} / ${(r.handSize / 2 ** 20).toFixed(1)} MB |`),
      '',
      'Goal: ours <= 1.2x by hand.',
    ].join('\n')
    writeSection('backup', 'Backup and restore next to the engines\' own tools', text)
    process.stdout.write(text + '\n')
  } finally {
    if (server) { server.child.kill('SIGTERM'); await new Promise((r) => server.child.once('exit', r)) }
    // Twice: an agent the server was starting while it stopped shows up a moment later.
    for (let pass = 0; pass < 2; pass++, await sleep(1000)) try { execFileSync('sh', ['-c', `for p in $(ls /proc | grep -E '^[0-9]+$'); do readlink /proc/$p/cwd 2>/dev/null | grep -q '^${root}' && kill -9 $p; tr '\\0' ' ' < /proc/$p/cmdline 2>/dev/null | grep -q '${root}' && kill -9 $p; done; true`], { stdio: 'ignore' }) } catch { /* best effort */ }
    if (process.env.BENCH_KEEP) process.stdout.write(`kept ${root}\n`)
    else rmSync(root, { recursive: true, force: true })
  }
}

await main()
