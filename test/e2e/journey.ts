// Issue 4: one user's journey per engine through bin/trove against one real lab, every step checked with
// the engine's own client: create with users, write, add a database and a user with a grant, root,
// a configuration group read back from the engine, full + incremental backups restored into new
// instances, a replica (and a backup of it), promote, resize the new primary, logs, and a clean end.
import t, { type Test } from 'tap'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { killEverythingUnder, labEnv, runCli, startServerProcess, tempDir } from '../helpers/lab.js'
import { guestDir } from '../helpers/guest.js'

const PSQL = '/usr/lib/postgresql/15/bin/psql'
const N = 50
const M = 20
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
/** JOURNEY_ENGINES=mariadb narrows the run (development). */
const ENGINES = (process.env.JOURNEY_ENGINES ?? 'mariadb,postgresql,redis').split(',')

interface Target {
  ip: string
  dir: string
}
interface Login {
  user: string
  password: string
  db?: string
}

/**
 * Runs SQL (or Redis commands, one a line) with the engine's own client: MariaDB and PostgreSQL over TCP
 * as `login`, Redis over TCP as `login` when given, else as the agent over the instance's socket.
 */
function engineRun(engine: string, at: Target, input: string, login?: Login): { out: string; err: string; code: number } {
  const r =
    engine === 'mariadb'
      ? spawnSync('mariadb', ['--no-defaults', '-h', at.ip, '-P', '3306', '-u', login!.user, '-N', '-B', login!.db ?? 'd1'], {
          input,
          encoding: 'utf8',
          env: { ...process.env, MYSQL_PWD: login!.password },
        })
      : engine === 'postgresql'
        ? spawnSync(PSQL, ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-h', at.ip, '-p', '5432', '-U', login!.user, '-d', login!.db ?? 'd1'], {
            input,
            encoding: 'utf8',
            env: { ...process.env, PGPASSWORD: login!.password, PGCONNECT_TIMEOUT: '5' },
          })
        : login
          ? spawnSync('redis-cli', ['-h', at.ip, '-p', '6379', '--user', login.user, '--no-auth-warning'], { input, encoding: 'utf8', env: { ...process.env, REDISCLI_AUTH: login.password } })
          : spawnSync('redis-cli', ['-s', join(at.dir, 'run/redis.sock'), '--no-auth-warning'], {
              input,
              encoding: 'utf8',
              env: { ...process.env, REDISCLI_AUTH: readFileSync(join(at.dir, 'conf/admin.secret'), 'utf8').trim() },
            })
  const out = (r.stdout ?? '').trim()
  // redis-cli exits 0 on command errors: an "(error)"/"ERR" line is a failure.
  const failed = r.status !== 0 || (engine === 'redis' && /^(\(error\) )?(ERR|NOAUTH|WRONGPASS|READONLY|NOPERM)/m.test(out))
  return { out, err: (r.stderr ?? '').trim(), code: failed ? 1 : 0 }
}

/** Commands that print no show/list output (no `-f json`). */
const QUIET = ['db create', 'user create', 'configuration attach', 'configuration delete', 'instance restart', 'instance promote', 'instance resize', 'instance delete']

const U1: Login = { user: 'u1', password: 'Pw-one-1' }

/** Rows (keys on Redis) from..to. */
function write(engine: string, at: Target, from: number, to: number, login: Login | undefined = engine === 'redis' ? undefined : U1) {
  if (engine === 'mariadb') return engineRun(engine, at, `CREATE TABLE IF NOT EXISTS t (v int primary key); INSERT INTO t SELECT seq FROM seq_${from}_to_${to};`, login)
  if (engine === 'postgresql') return engineRun(engine, at, `CREATE TABLE IF NOT EXISTS t (v int primary key); INSERT INTO t SELECT generate_series(${from}, ${to});`, login)
  return engineRun(engine, at, Array.from({ length: to - from + 1 }, (_, i) => `SET k${from + i} v${from + i}`).join('\n') + '\n', login)
}

/** How many rows (keys) there are, or -1 when the engine cannot be read. */
function count(engine: string, at: Target): number {
  const r = engine === 'redis' ? engineRun(engine, at, 'DBSIZE\n') : engineRun(engine, at, 'SELECT count(*) FROM t;', U1)
  return r.code === 0 && /^\d+$/.test(r.out) ? Number(r.out) : -1
}

/** A setting as the running engine reports it. */
function setting(engine: string, at: Target, name: string): string {
  const r = engine === 'mariadb' ? engineRun(engine, at, `SELECT @@${name};`, U1) : engine === 'postgresql' ? engineRun(engine, at, `SHOW ${name};`, U1) : engineRun(engine, at, `CONFIG GET ${name}\n`)
  return r.out.split('\n').pop() ?? ''
}

/** Polls `probe`; the deadline (`ms`, raised to two minutes) only ends a hang: a busy machine is slower, not failing. */
async function until(probe: () => boolean, ms = 30_000): Promise<boolean> {
  const start = Date.now()
  while (Date.now() - start < Math.max(ms, 120_000)) {
    if (probe()) return true
    await sleep(200)
  }
  return probe()
}

// The engines' subtests run side by side (tap runs subtests one at a time unless told).
t.test('the issue 4 journey per engine through bin/trove against one lab', { jobs: ENGINES.length }, async (t) => {
  const started = Date.now()
  const dir = tempDir(t, 'tj')
  const dataDir = join(dir, 'lab')
  // Three stories polling with --wait exceed upstream's 200 GETs a minute per user: no rate limits here.
  const server = await startServerProcess(t, dataDir, ['--rate-limits', 'none'])
  t.teardown(() => killEverythingUnder(dataDir))
  const env = { ...server.env, HOME: dir }
  const adminEnv = { ...labEnv(server.cloudsFile, 'trove-lab-admin'), HOME: dir }
  const at = (inst: { id: string; ip: string }): Target => ({ ip: inst.ip, dir: guestDir(dataDir, inst.id) })

  await Promise.all(
    ENGINES.map((engine) =>
      t.test(engine, async (t) => {
        const t0 = Date.now()
        const made: string[] = []
        try {
          await journey(t, engine, made)
        } finally {
          // Whatever happened, nothing of this engine is left running.
          for (const name of made.reverse()) {
            await runCli(['instance', 'reset', 'status', name], env).catch(() => undefined)
            await runCli(['instance', 'delete', name, '--wait', '--timeout', '120'], env).catch(() => undefined)
          }
          t.comment(`${engine}: journey took ${((Date.now() - t0) / 1000).toFixed(1)} s`)
        }
      }),
    ),
  )

  const left = await runCli(['backup', 'list', '-f', 'json'], env)
  const backups = JSON.parse(left.stdout) as Array<{ ID: string; 'Parent ID': string | null }>
  const roots = backups.filter((b) => !b['Parent ID']).map((b) => b.ID)
  if (roots.length) t.equal((await runCli(['backup', 'delete', ...roots, '--wait'], env)).code, 0, 'backups deleted')
  t.same(JSON.parse((await runCli(['backup', 'list', '-f', 'json'], env)).stdout), [], 'no backups left')
  t.same(JSON.parse((await runCli(['instance', 'list', '-f', 'json'], env)).stdout), [], 'no instances left')
  const ps = spawnSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).stdout
  t.notOk(
    ps.split('\n').some((l) => l.includes(join(dataDir, 'instances'))),
    'no engine or agent processes left',
  )
  t.comment(`journey wall time ${((Date.now() - started) / 1000).toFixed(1)} s`)

  async function journey(t: Test, engine: string, made: string[]): Promise<void> {
    const sql = engine !== 'redis'
    /** bin/trove as the demo user; asserts exit 0; parsed JSON when asked for. */
    const cli = async (what: string, args: string[], e: Record<string, string> = env): Promise<any> => {
      const json = !QUIET.some((q) => args.join(' ').startsWith(q))
      const r = await runCli(json ? [...args, '-f', 'json'] : args, e, 240_000)
      t.equal(r.code, 0, `${what} (${r.stderr.trim().split('\n').pop() ?? ''})`)
      if (r.code !== 0) throw new Error(`${engine}: ${what} failed: stopping the journey`)
      return json ? JSON.parse(r.stdout) : r.stdout
    }
    const create = async (name: string, extra: string[]) => {
      made.push(name)
      return cli(`instance create ${name} ${extra.join(' ')} --wait`, ['instance', 'create', name, '--flavor', 'm1.tiny', '--size', '1', '--datastore', engine, ...extra, '--wait', '--timeout', '180'])
    }
    const drop = async (name: string) => {
      await cli(`instance delete ${name}`, ['instance', 'delete', name, '--wait', '--timeout', '120'])
      made.splice(made.indexOf(name), 1)
    }
    const names = (rows: Array<{ Name: string }>) => rows.map((r) => r.Name)

    // 1. Create with --databases and --users; u1 writes N rows with the engine's client.
    const src = `j-${engine}`
    const source = await create(src, sql ? ['--databases', 'd1', '--users', `u1:${U1.password}`] : [])
    const S = at(source)
    t.equal(source.status, 'ACTIVE', 'created ACTIVE')

    // 2. Root enable (Redis: it sets the password of a TCP user) and log in as root.
    const root = await cli('root enable', ['root', 'enable', src])
    t.match(root, { name: 'root', password: /^[A-Za-z0-9]{20,}$/ }, 'root enable gives a password')
    const rootLogin: Login = { user: 'root', password: root.password, db: engine === 'postgresql' ? 'postgres' : engine === 'mariadb' ? 'mysql' : undefined }
    t.equal(engineRun(engine, S, sql ? 'SELECT 1;' : 'PING\n', rootLogin).code, 0, 'root logs in with the engine client')
    t.match(await cli('root show', ['root', 'show', src]), { is_root_enabled: true }, 'root show: enabled')

    t.equal(write(engine, S, 1, N, sql ? U1 : rootLogin).code, 0, `${sql ? 'u1' : 'root'} writes ${N} rows`)
    t.equal(count(engine, S), N, `${N} rows read back`)

    if (sql) {
      // 3. A database and a user with a grant on it; a user without the grant is refused.
      await cli('db create d2', ['db', 'create', src, 'd2'])
      await cli('user create u2 --databases d2', ['user', 'create', src, 'u2', 'Pw-two-2', '--databases', 'd2'])
      const U2: Login = { user: 'u2', password: 'Pw-two-2', db: 'd2' }
      t.equal(engineRun(engine, S, 'CREATE TABLE t2 (v int); INSERT INTO t2 VALUES (1); SELECT count(*) FROM t2;', U2).out, '1', 'u2 writes and reads in d2')
      t.not(engineRun(engine, S, 'SELECT count(*) FROM t;', { ...U2, db: 'd1' }).code, 0, 'u2 (no grant on d1) is refused on d1')
      t.not(engineRun(engine, S, 'SELECT count(*) FROM t2;', { ...U1, db: 'd2' }).code, 0, 'u1 (no grant on d2) is refused on d2')
      t.same(names(await cli('db list', ['db', 'list', src])), ['d1', 'd2'], 'db list: d1 d2')
      t.same(
        (await cli('user list', ['user', 'list', src])).map((u: { Name: string; Databases: string }) => [u.Name, u.Databases]),
        [
          ['u1', 'd1'],
          ['u2', 'd2'],
        ],
        'user list: u1 on d1, u2 on d2',
      )
    }

    // 4. A configuration group with the connection limit, read back from the engine.
    const key = sql ? 'max_connections' : 'maxclients'
    const value = engine === 'mariadb' ? 222 : engine === 'postgresql' ? 123 : 345
    const [version] = await cli('datastore version list', ['datastore', 'version', 'list', engine])
    const cfg = await cli('configuration create', ['configuration', 'create', `cfg-${engine}`, JSON.stringify({ [key]: value }), '--datastore', engine, '--datastore-version', version.Name])
    await cli('configuration attach --wait', ['configuration', 'attach', src, cfg.id, '--wait', '--timeout', '120'])
    const attached = await cli('instance show', ['instance', 'show', src])
    if (engine === 'postgresql') {
      t.equal(attached.status, 'RESTART_REQUIRED', `${key} needs a restart`)
      await cli('instance restart --wait', ['instance', 'restart', src, '--wait', '--timeout', '120'])
    } else {
      t.equal(attached.status, 'ACTIVE', `${key} is dynamic: ACTIVE`)
    }
    t.equal(setting(engine, S, key), String(value), `${key} = ${value} read from the engine`)

    // 5. Full backup, more rows, incremental backup (Redis has none upstream: a second full one).
    const full = await cli('backup create full --wait', ['backup', 'create', `full-${engine}`, '--instance', src, '--wait', '--timeout', '180'])
    t.match(full, { status: 'COMPLETED', parent_id: null }, 'full backup COMPLETED')
    t.equal(write(engine, S, N + 1, N + M, sql ? U1 : rootLogin).code, 0, `${M} more rows written`)
    const second = await cli(`backup create ${sql ? '--incremental' : 'second full'} --wait`, [
      'backup',
      'create',
      `inc-${engine}`,
      '--instance',
      src,
      ...(sql ? ['--incremental'] : []),
      '--wait',
      '--timeout',
      '180',
    ])
    t.match(second, { status: 'COMPLETED', parent_id: sql ? full.id : null }, `${sql ? 'incremental' : 'second'} backup COMPLETED`)

    // 6. Restore each into a new instance and count; users, databases and a configuration group there too.
    const rf = await create(`jf-${engine}`, ['--backup', full.id])
    t.equal(count(engine, at(rf)), N, `the full backup restored: ${N} rows`)
    await drop(rf.name)
    const ri = await create(`ji-${engine}`, ['--backup', second.id])
    const RI = at(ri)
    t.equal(count(engine, RI), N + M, `the ${sql ? 'incremental' : 'second'} backup restored: ${N + M} rows`)
    if (sql) {
      t.same(names(await cli('user list (restored)', ['user', 'list', ri.name])), ['u1', 'u2'], 'the restored instance lists u1 and u2')
      t.same(names(await cli('db list (restored)', ['db', 'list', ri.name])), ['d1', 'd2'], 'the restored instance lists d1 and d2')
    }
    t.equal(write(engine, RI, 1000, 1000).code, 0, 'the restored instance takes writes')
    await cli('configuration attach (restored) --wait', ['configuration', 'attach', ri.name, cfg.id, '--wait', '--timeout', '120'])
    if ((await cli('instance show (restored)', ['instance', 'show', ri.name])).status === 'RESTART_REQUIRED') {
      await cli('instance restart (restored) --wait', ['instance', 'restart', ri.name, '--wait', '--timeout', '120'])
    }
    t.equal(setting(engine, RI, key), String(value), `the restored instance runs with ${key} = ${value}`)
    await drop(ri.name)

    // 7. A replica; new rows arrive; a backup of the replica works.
    const rep = `${src}-rep`
    made.push(rep)
    const replica = await cli('instance create --replica-of --wait', ['instance', 'create', rep, '--replica-of', src, '--wait', '--timeout', '180'])
    const R = at(replica)
    t.equal(replica.replica_of, source.id, 'replica_of the source')
    t.ok(await until(() => count(engine, R) === N + M), `the replica has the ${N + M} rows`)
    t.equal(write(engine, S, N + M + 1, N + M + 5, sql ? U1 : rootLogin).code, 0, '5 new rows on the source')
    t.ok(await until(() => count(engine, R) === N + M + 5), 'the new rows arrive on the replica')
    const rb = await cli('backup create (replica) --wait', ['backup', 'create', `rep-${engine}`, '--instance', rep, '--wait', '--timeout', '180'])
    t.match(rb, { status: 'COMPLETED', instance_id: replica.id }, 'a backup of the replica COMPLETED')
    t.ok(await until(() => count(engine, R) === N + M + 5, 5000), 'the replica still replicates after its backup')
    let fromReplica = rb
    if (engine === 'postgresql') {
      // A standby archives no WAL of its own: the server refuses the incremental up front.
      const ir = await runCli(['backup', 'create', `repinc-${engine}`, '--instance', rep, '--incremental'], env)
      t.equal(ir.code, 1, 'an incremental backup of a PostgreSQL replica is refused')
      t.match(ir.stderr, /Incremental backups of a PostgreSQL replica are not supported/, 'with a clear message')
    } else if (sql) {
      // An incremental on top of the replica's own full backup.
      const ir = await runCli(['backup', 'create', `repinc-${engine}`, '--instance', rep, '--incremental', '--wait', '--timeout', '120', '-f', 'json'], env)
      const bid = /\(([0-9a-f-]{36})\)/.exec(ir.stderr)?.[1] ?? '?'
      let agentLog = ''
      try {
        agentLog = readFileSync(join(R.dir, 'agent.log'), 'utf8')
      } catch {
        /* none */
      }
      const why = [
        ir.stderr.trim().split('\n').pop(),
        ...agentLog
          .split('\n')
          .filter((l) => l.includes(bid))
          .slice(-2),
      ].join('; ')
      t.equal(ir.code, 0, `an incremental backup of the replica COMPLETED${ir.code ? ` (${why})` : ''}`)
      if (ir.code === 0) fromReplica = JSON.parse(ir.stdout)
    }
    const rr = await create(`jr-${engine}`, ['--backup', fromReplica.id])
    t.equal(count(engine, at(rr)), N + M + 5, `the replica's ${fromReplica === rb ? 'full' : 'incremental'} backup restored: ${N + M + 5} rows`)
    t.equal(write(engine, at(rr), 2000, 2000).code, 0, "the replica's restore is a writable primary")
    await drop(rr.name)

    // 8. Promote the replica and write to it; the old primary follows.
    await cli('instance promote --wait', ['instance', 'promote', rep, '--wait', '--timeout', '180'])
    // The same credentials as on the source: u1 (replicated with the data) or, on Redis, root.
    const w = write(engine, R, 101, 105, sql ? U1 : rootLogin)
    t.equal(w.code, 0, `the promoted instance takes writes as ${sql ? 'u1' : 'root'} (${w.err || w.out.slice(0, 200)})`)
    t.equal(count(engine, R), N + M + 10, `${N + M + 10} rows on the new primary`)
    t.ok(await until(() => count(engine, S) === N + M + 10), 'the old primary follows the new one')

    // 9. Resize the new primary's flavor; the data stays, writes still replicate.
    await cli('instance resize flavor m1.small --wait', ['instance', 'resize', 'flavor', rep, 'm1.small', '--wait', '--timeout', '180'])
    t.match(await cli('instance show (resized)', ['instance', 'show', rep]), { status: 'ACTIVE', flavor: '2' }, 'ACTIVE on m1.small')
    t.equal(count(engine, R), N + M + 10, 'the rows survive the resize')
    t.equal(write(engine, R, 106, 106).code, 0, 'the resized primary takes writes')
    t.ok(await until(() => count(engine, S) === N + M + 11), 'and they still reach its replica')

    // 10. The logs.
    const expected = engine === 'mariadb' ? ['general', 'slow_query', 'error', 'guest'] : engine === 'postgresql' ? ['general', 'guest'] : ['redis', 'guest']
    t.same(names(await cli('log list (admin)', ['log', 'list', replica.id], adminEnv)), expected, `log list: ${expected.join(' ')}`)

    // 11. The end: the replica (old primary) first, then the primary; the group goes too.
    await drop(src)
    await drop(rep)
    await cli('configuration delete', ['configuration', 'delete', cfg.id])
  }
})
