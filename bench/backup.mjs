// Backup and restore per engine, on the same data (BENCH_ROWS rows/keys, default 100k), next to the
// engine's own tool run by hand with the same options: mariadb-backup (xbstream to a file) / mbstream
// + prepare + move-back + start; pg_basebackup -Ft -Xfetch to a file / untar + start; BGSAVE + copy /
// copy + start. Both backups end with the file fsynced. Run with `npm run bench` (BENCH_ONLY=backup)
// or `node bench/backup.mjs` after a build. Knobs: BENCH_ROWS, BENCH_RUNS (default 5), BENCH_ENGINES
// (comma list, default all), BENCH_KEEP=1 (keep the work dir: server.log and the agents' logs).
import { spawn, execFileSync } from 'node:child_process'
import { appendFileSync, chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, copyFileSync, statSync, openSync, closeSync, fsyncSync } from 'node:fs'
import { join } from 'node:path'
import { RUN_USER, asUser, clientFor, freePort, median, machine, ok, sleep, until as untilLib, writeSection, ROOT } from './lib.mjs'

const RUNS = Number(process.env.BENCH_RUNS ?? 5)
const ROWS = Number(process.env.BENCH_ROWS ?? 100_000)
const ENGINE_FILTER = process.env.BENCH_ENGINES ? process.env.BENCH_ENGINES.split(',') : undefined
/** The API polling interval of our side (a GET each time). */
const POLL_MS = 10
const USER = RUN_USER
const PGBIN = '/usr/lib/postgresql/15/bin'

const run = (cmd, args, opts = {}) => execFileSync(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], maxBuffer: 1 << 26, ...opts }).toString()
/** This script's defaults: 120_000 ms at most, every 10 ms. */
const until = (check, timeoutMs = 120_000, everyMs = 10) => untilLib(check, timeoutMs, everyMs)
/**
 * Runs `cmd` with stdout into `file` (the tool "by hand", streamed to a file), then fsyncs
 * the file: a backup is done once it is on disk. Returns ms when the tool exited (before the fsync).
 */
function toFile(cmd, args, file, t0) {
  const fd = openSync(file, 'w', 0o600)
  try {
    execFileSync(cmd, args, { stdio: ['ignore', fd, 'pipe'], maxBuffer: 1 << 26 })
    const tool = performance.now() - t0
    fsyncSync(fd)
    return tool
  } finally {
    closeSync(fd)
  }
}
/** Copies src to dest and fsyncs dest; returns ms at the end of the copy (before the fsync). */
function copySynced(src, dest, t0) {
  copyFileSync(src, dest)
  const tool = performance.now() - t0
  const fd = openSync(dest, 'r+')
  try {
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  return tool
}

function startServer(dataDir) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, 'bin/trove'), 'server', '--data-dir', dataDir, '--port', '0', '--rate-limits', 'none'], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    const logFile = join(dataDir, '..', 'server.log')
    const on = (b) => {
      try {
        appendFileSync(logFile, b)
      } catch {
        /* best effort */
      }
      out += b
      const m = /listening on (http:\/\/\S+)/.exec(out)
      if (m && out.includes('use it:')) resolve({ child, url: m[1] })
    }
    child.stdout.on('data', on)
    child.stderr.on('data', on)
    child.once('exit', (c) => reject(new Error(`server exited ${c}: ${out}`)))
  })
}

/** Per engine: load the data into an instance, and the by-hand backup and restore. */
const ENGINES = {
  mariadb: {
    load(base) {
      run('mariadb', [`--defaults-file=${base}/conf/my.cnf`, '-uroot'], {
        input: `CREATE DATABASE b; USE b; CREATE TABLE b.t (id int primary key, v varchar(40)); INSERT INTO b.t SELECT seq, md5(seq) FROM seq_1_to_${ROWS};`,
      })
    },
    count: (base) => Number(run('mariadb', [`--defaults-file=${base}/conf/my.cnf`, '-uroot', '-N', '-B'], { input: 'SELECT count(*) FROM b.t;' }).trim()),
    backup(base, file, work, t0) {
      mkdirSync(join(work, 'lsn'), { recursive: true })
      // The options the guest uses (mariadb/backup.ts), so that both sides do the same work.
      return toFile(
        'mariadb-backup',
        [`--defaults-file=${base}/conf/my.cnf`, '--backup', '--user=root', '--stream=xbstream', '--log-copy-interval=10', `--target-dir=${work}`, `--extra-lsndir=${work}/lsn`],
        file,
        t0,
      )
    },
    async restore(file, dir) {
      const w = join(dir, 'w')
      const data = join(dir, 'data')
      for (const d of [w, data, join(dir, 'run'), join(dir, 'tmp')]) mkdirSync(d, { recursive: true })
      const fd = openSync(file, 'r')
      try {
        execFileSync('mbstream', ['-x', '-C', w], { stdio: [fd, 'ignore', 'pipe'] })
      } finally {
        closeSync(fd)
      }
      run('mariadb-backup', ['--no-defaults', '--prepare', `--target-dir=${w}`])
      run('mariadb-backup', ['--no-defaults', '--move-back', `--target-dir=${w}`, `--datadir=${data}`])
      execFileSync('chown', ['-R', `${USER}:${USER}`, dir])
      const port = await freePort()
      const cnf = join(dir, 'my.cnf')
      writeFileSync(
        cnf,
        `[mysqld]\nuser=${USER}\ndatadir=${data}\ntmpdir=${dir}/tmp\nport=${port}\nbind-address=127.0.0.1\nsocket=${dir}/run/s.sock\npid-file=${dir}/run/p.pid\nlog-error=${dir}/error.log\nskip-name-resolve\ninnodb-log-file-size=50M\n`,
      )
      const p = spawn('mariadbd', [`--defaults-file=${cnf}`], { stdio: 'ignore' })
      await until(() => ok('mariadb-admin', ['--no-defaults', `--socket=${dir}/run/s.sock`, '-uroot', 'ping']), 60_000).catch((e) => {
        throw new Error(
          `${e.message}: ${readFileSync(`${dir}/error.log`, 'utf8')
            .split('\n')
            .filter((l) => /ERROR/.test(l))
            .slice(-3)
            .join(' | ')}`,
        )
      })
      return p
    },
  },
  postgresql: {
    psql: (base, sql) => run('setpriv', asUser([join(PGBIN, 'psql'), '-X', '-q', '-At', '-h', `${base}/run`, '-p', '5432', '-U', 'postgres', '-d', 'postgres', '-c', sql])),
    load(base) {
      this.psql(base, `CREATE TABLE t AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, ${ROWS}) g; ALTER TABLE t ADD PRIMARY KEY (id);`)
    },
    count(base) {
      return Number(this.psql(base, 'SELECT count(*) FROM t;').trim())
    },
    settle(base) {
      this.psql(base, 'CHECKPOINT;')
    },
    backup(base, file, _work, t0) {
      return toFile('setpriv', asUser([join(PGBIN, 'pg_basebackup'), '-h', `${base}/run`, '-p', '5432', '-U', 'postgres', '-D', '-', '-Ft', '-Xfetch', '-c', 'fast', '-v', '--no-manifest']), file, t0)
    },
    async restore(file, dir) {
      const data = join(dir, 'data')
      mkdirSync(data, { recursive: true })
      mkdirSync(join(dir, 'run'))
      execFileSync('chown', ['-R', `${USER}:${USER}`, dir])
      chmodSync(file, 0o644)
      execFileSync('setpriv', asUser(['tar', '-x', '-f', file, '-C', data]))
      chmodSync(data, 0o700)
      // The lab keeps its config outside the data dir (engines.md 2): give the copy a minimal one.
      for (const [f, text] of [
        ['postgresql.conf', ''],
        ['pg_hba.conf', 'local all all trust\n'],
        ['pg_ident.conf', ''],
      ])
        writeFileSync(join(data, f), text, { mode: 0o600 })
      execFileSync('chown', ['-R', `${USER}:${USER}`, data])
      const port = await freePort()
      const log = openSync(join(dir, 'pg.log'), 'w')
      const p = spawn('setpriv', asUser([join(PGBIN, 'postgres'), '-D', data, '-p', String(port), '-k', join(dir, 'run'), '-c', 'listen_addresses=', '-c', 'archive_mode=off']), {
        stdio: ['ignore', log, log],
      })
      closeSync(log)
      await until(() => ok(join(PGBIN, 'pg_isready'), ['-q', '-h', join(dir, 'run'), '-p', String(port), '-U', 'postgres', '-d', 'postgres']), 60_000).catch((e) => {
        throw new Error(`${e.message.slice(0, 20)}: ${readFileSync(join(dir, 'pg.log'), 'utf8').slice(-400)}`)
      })
      return p
    },
  },
  redis: {
    cli: (base, lines) => run('redis-cli', ['-s', `${base}/run/redis.sock`], { input: lines, env: { ...process.env, REDISCLI_AUTH: readFileSync(`${base}/conf/admin.secret`, 'utf8').trim() } }),
    load(base) {
      this.cli(base, `EVAL "for i=1,${ROWS} do redis.call('SET','k'..i, i) end" 0\n`)
    },
    count(base) {
      return Number(this.cli(base, 'DBSIZE\n').trim())
    },
    async backup(base, file, _work, t0) {
      const saves = () => Number(/rdb_saves:(\d+)/.exec(this.cli(base, 'INFO persistence\n'))?.[1])
      const before = saves()
      this.cli(base, 'BGSAVE\n')
      await until(() => saves() > before && /rdb_bgsave_in_progress:0/.test(this.cli(base, 'INFO persistence\n')), 60_000, 5)
      return copySynced(`${base}/data/dump.rdb`, file, t0)
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
  /** BENCH_KEEP: timestamps of our side, to line up with server.log and the agents' logs. */
  const trace = (m) => {
    if (process.env.BENCH_KEEP) appendFileSync(join(root, 'bench.trace'), `${new Date().toISOString()} ${m}\n`)
  }
  let server
  try {
    server = await startServer(dataDir)
    const client = await clientFor(join(dataDir, 'clouds.yaml'))
    for (const [engine, e] of Object.entries(ENGINES)) {
      if (ENGINE_FILTER && !ENGINE_FILTER.includes(engine)) continue
      const keepLog = (id, name) => {
        if (process.env.BENCH_KEEP)
          try {
            copyFileSync(join(dataDir, 'instances', id, 'agent.log'), join(root, `${name}.agent.log`))
          } catch {
            /* gone */
          }
      }
      const gone = (id) =>
        until(
          async () => {
            try {
              await client.instances.get(id)
              return false
            } catch (err) {
              if (err.status === 404 || /not found|404/i.test(err.message)) return true
              throw err
            }
          },
          120_000,
          50,
        )
      const inst = await client.instances.create({ name: `bench-${engine}`, flavorRef: '2', volume: { size: 2 }, datastore: { type: engine } })
      await until(async () => (await client.instances.get(inst.id)).status === 'ACTIVE', 180_000, 50)
      const base = join(dataDir, 'instances', inst.id)
      e.load(base)
      e.settle?.(base)
      const ours = { backup: [], restore: [], create: [] },
        hand = { backup: [], restore: [], tool: [] }
      let size = 0,
        handSize = 0
      const handRun = async (name) => {
        const dir = join(root, `hand-${engine}-${name}`)
        mkdirSync(dir, { recursive: true })
        const file = join(dir, 'backup')
        let t0 = performance.now()
        const tool = await e.backup(base, file, join(dir, 'work'), t0)
        const took = performance.now() - t0
        handSize = statSync(file).size
        t0 = performance.now()
        const p = await e.restore(file, join(dir, 'restore'))
        const restored = performance.now() - t0
        p.kill('SIGTERM')
        await new Promise((res) => p.once('exit', res))
        rmSync(dir, { recursive: true, force: true })
        return { took, tool, restored }
      }
      // Untimed warm-up by hand: the first backup after a bulk load pays for the engine's
      // catching up (InnoDB's redo log, PostgreSQL's checkpoint, the page cache) whichever side runs it.
      await handRun('warmup')
      const oursRun = async (i) => {
        // Ours: POST /backups -> COMPLETED visible through the API, then create from it -> ACTIVE.
        let t0 = performance.now()
        trace(`${engine} ${i}: POST /backups`)
        const b = await client.backups.create({ name: `b-${engine}-${i}`, instance: inst.id })
        trace(`${engine} ${i}: POST /backups answered`)
        let got
        await until(
          async () => {
            got = await client.backups.get(b.id)
            if (got.status === 'FAILED') throw new Error('backup FAILED')
            return got.status === 'COMPLETED'
          },
          600_000,
          POLL_MS,
        )
        ours.backup.push(performance.now() - t0)
        trace(`${engine} ${i}: COMPLETED seen`)
        size = statSync(got.locationRef).size
        await until(async () => (await client.instances.get(inst.id)).status === 'ACTIVE', 60_000, 20)
        t0 = performance.now()
        trace(`${engine} ${i}: POST /instances (restore)`)
        const r = await client.instances.create({ name: `r-${engine}-${i}`, flavorRef: '2', volume: { size: 2 }, restorePoint: { backupRef: b.id } })
        await until(
          async () => {
            const s = (await client.instances.get(r.id)).status
            if (s === 'ERROR') throw new Error('restore ERROR')
            return s === 'ACTIVE'
          },
          600_000,
          POLL_MS,
        )
        ours.restore.push(performance.now() - t0)
        trace(`${engine} ${i}: ACTIVE seen`)
        if (i === 0) {
          const n = e.count(join(dataDir, 'instances', r.id))
          if (n !== ROWS) throw new Error(`${engine}: restored ${n} rows, not ${ROWS}`)
        }
        keepLog(r.id, `${engine}-restore-${i}`)
        await client.instances.delete(r.id)
        await gone(r.id)
        await client.backups.delete(b.id)
        // For scale: a plain create -> ACTIVE of the same engine (no restore): the part of a
        // restore that is creating an instance at all (API, task, agent process, engine start).
        t0 = performance.now()
        const plain = await client.instances.create({ name: `c-${engine}-${i}`, flavorRef: '2', volume: { size: 2 }, datastore: { type: engine } })
        await until(async () => (await client.instances.get(plain.id)).status === 'ACTIVE', 180_000, POLL_MS)
        ours.create.push(performance.now() - t0)
        await client.instances.delete(plain.id)
        await gone(plain.id)
      }
      for (let i = 0; i < RUNS; i++) {
        // The order alternates, so that neither side always runs on the state the other left.
        if (i % 2) {
          const h = await handRun(i)
          await oursRun(i)
          hand.backup.push(h.took)
          hand.tool.push(h.tool)
          hand.restore.push(h.restored)
        } else {
          await oursRun(i)
          const h = await handRun(i)
          hand.backup.push(h.took)
          hand.tool.push(h.tool)
          hand.restore.push(h.restored)
        }
      }
      keepLog(inst.id, `${engine}-source`)
      await client.instances.delete(inst.id)
      await gone(inst.id)
      rows.push({ engine, ours, hand, size, handSize })
    }
    const s = (ms) => `${(median(ms) / 1000).toFixed(2)} s (${(Math.min(...ms) / 1000).toFixed(2)})`
    const GOAL = 1.2
    const ratio = (a, b) => `${(median(a) / median(b)).toFixed(2)}x (${(Math.min(...a) / Math.min(...b)).toFixed(2)}x)`
    /** The verdict of a row's goal, on the ratio of the medians. */
    const verdict = (a, b) => (median(a) / median(b) <= GOAL ? 'met' : 'not met')
    const text = [
      `\`node bench/backup.mjs\` (BENCH_ROWS=${ROWS}, BENCH_RUNS=${RUNS}; medians) on ${machine()}.`,
      'The machine is shared with other work: figures vary between runs. Each cell: median (fastest run); ratio: of the',
      'medians (of the fastest runs).',
      '',
      `Goal: ours <= ${GOAL}x by hand, for backup and for restore; the verdict is on the ratio of the medians.`,
      '',
      `| engine | backup: ours | by hand | ratio | goal <= ${GOAL}x | restore: ours | by hand | ratio | goal <= ${GOAL}x | size ours / by hand | by hand, tool without fsync | plain create -> ACTIVE |`,
      '|---|---|---|---|---|---|---|---|---|---|---|---|',
      ...rows.map(
        (r) =>
          `| ${r.engine} | ${s(r.ours.backup)} | ${s(r.hand.backup)} | ${ratio(r.ours.backup, r.hand.backup)} | ${verdict(r.ours.backup, r.hand.backup)} | ${s(r.ours.restore)} | ${s(r.hand.restore)} | ${ratio(r.ours.restore, r.hand.restore)} | ${verdict(r.ours.restore, r.hand.restore)} | ${(r.size / 2 ** 20).toFixed(1)} / ${(r.handSize / 2 ** 20).toFixed(1)} MB | ${s(r.hand.tool)} | ${s(r.ours.create)} |`,
      ),
      '',
      'What each side includes (same instance, same data, same tool options):',
      '',
      '- **Backup, ours**: what a user waits: `POST /backups` until `GET /backups/{id}` shows COMPLETED (polled every',
      `  ${POLL_MS} ms): the API, the task, the cast to the guest agent, the engine tool writing straight into the`,
      '  store file while the agent computes its MD5 behind it and flushes it to disk, fsync, rename, the metadata file,',
      '  the COMPLETED event back to the server.',
      '- **Backup, by hand**: the same tool with the same options (mariadb-backup `--stream=xbstream --log-copy-interval=10`;',
      '  `pg_basebackup -Ft -Xfetch -c fast`; `BGSAVE`, polled every 5 ms until done, then a copy of dump.rdb) writing',
      '  to a file, then fsync of the file (a backup is done once it is on disk; pg_basebackup fsyncs its own output the',
      '  same way when it writes files). No checksum. The last column is the tool alone, before that fsync.',
      '- **Restore, ours**: `POST /instances` with `restorePoint` until `GET /instances/{id}` shows ACTIVE (polled every',
      `  ${POLL_MS} ms): the new instance (directories, config, agent process), the MD5 check of the backup file (read`,
      '  once, beside the unpack into a scratch dir), unpack/prepare/move into the data dir, the engine started until it answers,',
      "  the agent's own checks and the ACTIVE status back to the server.",
      '- **Restore, by hand**: mariadb: `mbstream -x` + `--prepare` + `--move-back` + `chown -R` + `mariadbd` until',
      '  `mariadb-admin ping` answers; postgresql: `tar -x` as the run user + a minimal config + `postgres` until',
      '  `pg_isready`; redis: copy to dump.rdb + `redis-server` until `PING` answers. No checksum, no instance to create.',
      '- The data is loaded once per engine, then one untimed backup and restore by hand warms up (the first backup',
      '  after a bulk load also pays for the engine catching up, whichever side runs it); ours and by hand then alternate',
      '  which goes first.',
      '- **Plain create -> ACTIVE**: for scale, a new empty instance of the same engine (from the template) until ACTIVE: the',
      '  part of our restore that is creating an instance at all (API, task, agent process start, engine start, status).',
    ].join('\n')
    writeSection('backup', "Backup and restore next to the engines' own tools", text)
    process.stdout.write(text + '\n')
  } finally {
    if (server) {
      server.child.kill('SIGTERM')
      await new Promise((r) => server.child.once('exit', r))
    }
    // Twice: an agent the server was starting while it stopped shows up a moment later.
    for (let pass = 0; pass < 2; pass++, await sleep(1000))
      try {
        execFileSync(
          'sh',
          [
            '-c',
            `for p in $(ls /proc | grep -E '^[0-9]+$'); do readlink /proc/$p/cwd 2>/dev/null | grep -q '^${root}' && kill -9 $p; tr '\\0' ' ' < /proc/$p/cmdline 2>/dev/null | grep -q '${root}' && kill -9 $p; done; true`,
          ],
          { stdio: 'ignore' },
        )
      } catch {
        /* best effort */
      }
    if (process.env.BENCH_KEEP) process.stdout.write(`kept ${root}\n`)
    else rmSync(root, { recursive: true, force: true })
  }
}

await main()
