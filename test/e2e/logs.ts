// Guest logs on real engines through our CLI: list, enable, publish, tail, save, discard.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { labEnv, runCli, startServerProcess, tempDir } from '../helpers/lab.js'
import { guestDir } from '../helpers/guest.js'

const PSQL = '/usr/lib/postgresql/15/bin/psql'

/** Statements over TCP with the engine's own client, as the instance's user. */
function query(engine: string, ip: string, statement: string): boolean {
  const r =
    engine === 'mariadb'
      ? spawnSync('mariadb', ['--no-defaults', '-h', ip, '-P', '3306', '-u', 'u1', '-N', '-B', 'd1'], { input: statement, env: { ...process.env, MYSQL_PWD: 'Pw-one-1' } })
      : spawnSync(PSQL, ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-h', ip, '-p', '5432', '-U', 'u1', '-d', 'd1'], {
          input: statement,
          env: { ...process.env, PGPASSWORD: 'Pw-one-1', PGCONNECT_TIMEOUT: '5' },
        })
  return r.status === 0
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

t.test('guest logs of MariaDB, PostgreSQL and Redis with trove log ...', async (t) => {
  const dir = tempDir(t, 'tl')
  const server = await startServerProcess(t, join(dir, 'lab'))
  const env = { ...server.env, HOME: dir }
  const adminEnv = { ...labEnv(server.cloudsFile, 'trove-lab-admin'), HOME: dir }
  const cli = async (args: string[], e: Record<string, string> = env) => {
    const r = await runCli(args, e)
    t.equal(r.code, 0, `trove ${args.join(' ')} (${r.stderr.trim().split('\n').pop()})`)
    return r.stdout
  }
  const json = async (args: string[], e: Record<string, string> = env) => JSON.parse(await cli([...args, '-f', 'json'], e))
  // Admins list their own project's instances only (upstream): admin calls name the instance by id.
  const names = (rows: Array<{ Name: string }>) => rows.map((r) => r.Name)
  const storage = join(server.dataDir, 'storage', 'database_logs')

  await Promise.all(
    ['mariadb', 'postgresql', 'redis'].map(async (engine) => {
      const name = `l-${engine}`
      const extra = engine === 'redis' ? [] : ['--databases', 'd1', '--users', 'u1:Pw-one-1']
      const created = await json(['instance', 'create', name, '--flavor', 'm1.tiny', '--size', '1', '--datastore', engine, ...extra, '--wait', '--timeout', '180'])
      const id = created.id as string
      const ip = created.ip as string

      if (engine === 'mariadb') {
        t.same(names(await json(['log', 'list', name])), ['general', 'slow_query'], 'mariadb: a member sees the exposed logs')
        const all = await json(['log', 'list', id], adminEnv)
        t.same(names(all), ['general', 'slow_query', 'error', 'guest'], 'mariadb: an admin sees every log')
        t.match(
          all.find((l: { Name: string }) => l.Name === 'error'),
          { Type: 'SYS', Status: /Ready|Enabled/ },
        )
        t.match(await json(['log', 'show', name, 'general']), {
          name: 'general',
          type: 'USER',
          status: 'Disabled',
          published: 0,
          container: 'None',
          prefix: 'None',
          metafile: `${id}/mariadb-general_metafile`,
        })
        const refused = await runCli(['log', 'show', name, 'error'], env)
        t.equal(refused.code, 1, 'mariadb: a member cannot show the error log')
        t.match(refused.stderr, /admin privileges to 'show' the 'error' log/)
        const sys = await runCli(['log', 'set', id, 'error', '--disable'], adminEnv)
        t.match(sys.stderr, /Cannot disable a SYSTEM log \('error'\)/, 'mariadb: a SYS log cannot be disabled')
        const unknown = await runCli(['log', 'show', name, 'nope'], env)
        t.match(unknown.stderr, /Log 'nope' is not defined/, 'unknown log: 404')

        t.match(await json(['log', 'set', name, 'general', '--enable']), { status: /Enabled|Ready/ }, 'mariadb: general enabled live')
        t.match(await json(['log', 'set', name, 'slow_query', '--enable']), { status: /Enabled|Ready/ }, 'mariadb: slow_query enabled live')
        t.ok(query(engine, ip, "SELECT 'marker-general-42'; SELECT SLEEP(1.2), 'marker-slow-43';"), 'mariadb: queries ran')
        const tail = await cli(['log', 'tail', name, 'general', '--publish', '--lines', '200'])
        t.match(tail, /marker-general-42/, 'mariadb: trove log tail --publish shows the query')
        const shown = await json(['log', 'show', name, 'general'])
        // The general log keeps growing (every later query, the agent's own included): what was
        // there at the publish is published; anything after it is pending (Partial).
        t.match(shown, { status: /^(Published|Partial)$/, container: 'database_logs', prefix: `${id}/mariadb-general/` })
        t.ok(shown.status === 'Published' ? shown.pending === 0 : shown.pending > 0, `mariadb: ${shown.status} with ${shown.pending} bytes pending`)
        t.ok(shown.published > 0, 'published bytes')
        const objects = readdirSync(join(storage, id, 'mariadb-general'))
        t.ok(objects.length >= 1 && objects.every((o) => /^log-\d{4}-\d\d-\d\dT/.test(o)), `objects named log-<timestamp> (${objects.join(', ')})`)
        t.equal(statSync(join(storage, id, 'mariadb-general')).mode & 0o777, 0o700, 'object dir 0700')
        t.equal(statSync(join(storage, id, 'mariadb-general', objects[0]!)).mode & 0o777, 0o600, 'objects 0600')
        t.match(JSON.parse(readFileSync(join(storage, id, 'mariadb-general_metafile'), 'utf8')), { log_name: 'general', log_type: 'USER', log_size: shown.published })
        t.match(await cli(['log', 'tail', name, 'slow_query', '--publish']), /marker-slow-43/, 'mariadb: the slow query log has the slow query')

        // More lines after a publish: Partial, then a second object.
        t.ok(query(engine, ip, "SELECT 'marker-later-44';"))
        t.match(await json(['log', 'show', name, 'general']), { status: 'Partial' })
        const file = join(dir, 'general.log')
        t.match(await cli(['log', 'save', name, 'general', '--publish', '--file', file]), new RegExp(`Log "general" written to ${file}`))
        const saved = readFileSync(file, 'utf8')
        t.ok(saved.includes('marker-general-42') && saved.includes('marker-later-44'), 'log save: the whole published log')
        t.notMatch(saved, /SHOW MASTER STATUS|SHOW BINARY LOGS|@@gtid_binlog_pos/, "mariadb: the agent's own statements are not in the user's general log")
        t.ok(readdirSync(join(storage, id, 'mariadb-general')).length >= 2, 'a second publish appends an object')
        const lines = (await cli(['log', 'tail', name, 'general', '--lines', '3'])).trimEnd().split('\n')
        t.equal(lines.length, 3, '--lines 3 prints 3 lines')

        t.match(await json(['log', 'set', name, 'general', '--discard']), { published: 0, container: 'None', prefix: 'None' }, 'discard')
        t.notOk(existsSync(join(storage, id, 'mariadb-general')), 'discard deletes the objects')
        t.notOk(existsSync(join(storage, id, 'mariadb-general_metafile')), 'and the metafile')
        t.match(await cli(['log', 'tail', name, 'general']), /ERROR: No published 'general' log was found/, 'tail of a discarded log')
        t.match(await json(['log', 'set', name, 'general', '--disable']), { status: 'Disabled' }, 'mariadb: general disabled')
        t.notOk(
          query(engine, ip, "SELECT 'marker-after-disable';") && readFileSync(join(guestDir(server.dataDir, id), 'log', 'mysql-general.log'), 'utf8').includes('marker-after-disable'),
          'nothing logged once disabled',
        )
      }

      if (engine === 'postgresql') {
        t.same(names(await json(['log', 'list', name])), ['general'], 'postgresql: a member sees general')
        t.same(names(await json(['log', 'list', id], adminEnv)), ['general', 'guest'], 'postgresql: an admin sees guest too')
        t.match(await json(['log', 'set', name, 'general', '--enable']), { status: 'Restart Required' }, 'postgresql: general needs a restart')
        t.equal((await json(['instance', 'show', name])).status, 'RESTART_REQUIRED', 'postgresql: the instance is RESTART_REQUIRED')
        const r = spawnSync('openstack', ['database', 'instance', 'restart', name], { env, encoding: 'utf8' })
        t.equal(r.status, 0, `openstack database instance restart (${r.stderr})`)
        for (let i = 0; i < 240; i++) {
          if ((await json(['instance', 'show', name])).status === 'ACTIVE') break
          await sleep(500)
        }
        t.equal((await json(['instance', 'show', name])).status, 'ACTIVE', 'postgresql: ACTIVE after the restart')
        t.match(await json(['log', 'show', name, 'general']), { status: /Enabled|Ready/ })
        t.ok(query(engine, ip, "SELECT 'marker-pg-77';"), 'postgresql: query ran')
        const pgTail = await cli(['log', 'tail', name, 'general', '--publish'])
        t.match(pgTail, /marker-pg-77/, 'postgresql: the statement is in the published general log')
        // The agent polls its engine every few hundred ms; those statements once filled this tail.
        t.notMatch(pgTail, /pg_is_in_recovery|trove_archive/, "postgresql: the agent's own statements are not in the user's general log")
        t.match(await json(['log', 'set', name, 'general', '--discard']), { published: 0 })
      }

      if (engine === 'redis') {
        t.same(await json(['log', 'list', name]), [], 'redis: nothing exposed to members')
        t.same(names(await json(['log', 'list', id], adminEnv)), ['redis', 'guest'], 'redis: an admin sees redis and guest')
        t.match(await json(['log', 'set', id, 'redis', '--publish'], adminEnv), { type: 'SYS', status: 'Published', container: 'database_logs' })
        t.match(await cli(['log', 'tail', id, 'redis'], adminEnv), /Ready to accept connections/, 'redis: the published server log')
        t.match(await cli(['log', 'tail', id, 'guest', '--publish'], adminEnv), /prepare: done/, 'the agent log as guest')
        t.match(await json(['log', 'set', id, 'redis', '--discard'], adminEnv), { published: 0 })
      }
    }),
  )
})
