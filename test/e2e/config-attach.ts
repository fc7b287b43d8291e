// Configuration groups attached to real engines through the real `openstack database configuration attach/detach`.
import t, { type Test } from 'tap'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { runCli, startServerProcess, tempDir } from '../helpers/lab.js'
import { openstackSession, type OpenstackSession } from '../helpers/openstack-session.js'
import { fileSettings, shownSettings } from '../helpers/engine-conf.js'
import { guestDir } from '../helpers/guest.js'

const PSQL = '/usr/lib/postgresql/15/bin/psql'
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** One value read from the running engine (MariaDB and PostgreSQL as u1 over TCP, Redis as the agent over its socket). */
function engineValue(engine: string, ip: string, instanceDir: string, what: string): string {
  const r =
    engine === 'mariadb'
      ? spawnSync('mariadb', ['--no-defaults', '-h', ip, '-P', '3306', '-u', 'u1', '-N', '-B', 'd1'], { input: `SELECT @@${what};`, encoding: 'utf8', env: { ...process.env, MYSQL_PWD: 'Pw-one-1' } })
      : engine === 'postgresql'
        ? spawnSync(PSQL, ['-X', '-q', '-At', '-h', ip, '-p', '5432', '-U', 'u1', '-d', 'd1', '-c', `SHOW ${what}`], {
            encoding: 'utf8',
            env: { ...process.env, PGPASSWORD: 'Pw-one-1', PGCONNECT_TIMEOUT: '5' },
          })
        : spawnSync('redis-cli', ['-s', join(instanceDir, 'run/redis.sock'), '--raw', 'CONFIG', 'GET', what], {
            encoding: 'utf8',
            env: { ...process.env, REDISCLI_AUTH: readFileSync(join(instanceDir, 'conf/admin.secret'), 'utf8').trim() },
          })
  const lines = (r.stdout ?? '').trim().split('\n')
  return lines[lines.length - 1] ?? ''
}

t.test('attach/detach configuration groups to MariaDB, PostgreSQL and Redis with the real openstack client', async (t) => {
  const dir = tempDir(t, 'tg')
  const dataDir = join(dir, 'lab')
  const server = await startServerProcess(t, dataDir)
  const env = { ...server.env, HOME: dir }
  // Each engine's commands run in one python `openstack` process of its own (a start of the
  // client costs ~1 s of CPU: the status polls alone started dozens), the admin's in another.
  const admin = openstackSession(t, { ...env, OS_CLOUD: 'trove-lab-admin' })
  const clientsOf = (session: OpenstackSession) => {
    const os = (...args: string[]): Promise<string> => session.run(['database', ...args])
    const osJson = async (...args: string[]): Promise<any> => JSON.parse(await os(...args, '-f', 'json'))
    const waitStatus = async (name: string, want: string, ms = 60_000): Promise<string> => {
      const start = Date.now()
      let s = ''
      for (let pause = 100; Date.now() - start < ms; pause = Math.min(pause * 2, 1000)) {
        s = (await osJson('instance', 'show', name)).status
        if (s === want) break
        await sleep(pause)
      }
      return s
    }
    return { session, os, osJson, waitStatus }
  }

  const engines = [
    { engine: 'mariadb', key: 'max_connections', value: 321, shown: '321', restart: false, users: true },
    { engine: 'postgresql', key: 'max_connections', value: 150, shown: '150', restart: true, users: true },
    { engine: 'redis', key: 'maxmemory-policy', value: 'allkeys-lru', shown: 'allkeys-lru', restart: false, users: false },
  ]
  await Promise.all(engines.map(async (e) => check(t, e)))

  async function check(t: Test, e: (typeof engines)[number]): Promise<void> {
    const { session, os, osJson, waitStatus } = clientsOf(openstackSession(t, env))
    const name = `g-${e.engine}`
    const extra = e.users ? ['--databases', 'd1', '--users', 'u1:Pw-one-1'] : []
    const r = await runCli(['instance', 'create', name, '--flavor', 'm1.tiny', '--size', '1', '--datastore', e.engine, ...extra, '--wait', '--timeout', '120', '-f', 'json'], server.env)
    t.equal(r.code, 0, `${e.engine}: create --wait (${r.stderr.trim().split('\n').pop()})`)
    const { id, ip } = JSON.parse(r.stdout) as { id: string; ip: string }
    const instDir = guestDir(dataDir, id)
    const live = () => engineValue(e.engine, ip, instDir, e.key)
    const before = live()
    t.not(before, e.shown, `${e.engine}: ${e.key} is ${before} before`)
    // Before any group, `configuration default` shows the engine's file as the agent wrote it.
    const confFile = join(instDir, 'conf', { mariadb: 'my.cnf', postgresql: 'postgresql.conf', redis: 'redis.conf' }[e.engine]!)
    const defaults = shownSettings(e.engine, await osJson('configuration', 'default', name))
    t.same(defaults, fileSettings(e.engine, readFileSync(confFile, 'utf8')), `${e.engine}: configuration default = the engine's file`)
    t.ok(Object.keys(defaults).length > 8, `${e.engine}: ${Object.keys(defaults).length} settings compared`)

    const [version] = JSON.parse(await session.run(['datastore', 'version', 'list', e.engine, '-f', 'json']))
    const cfg = await osJson('configuration', 'create', `cfg-${e.engine}`, JSON.stringify({ [e.key]: e.value }), '--datastore', e.engine, '--datastore-version', version.Name)
    await os('configuration', 'attach', name, cfg.id)
    const shown = await osJson('instance', 'show', name)
    t.match(shown.configuration, cfg.id, `${e.engine}: instance show names the group`)
    const effective = await osJson('configuration', 'default', name)
    t.equal(String(effective[e.key]), e.shown, `${e.engine}: configuration default shows the override`)

    if (e.restart) {
      t.equal(shown.status, 'RESTART_REQUIRED', `${e.engine}: ${e.key} needs a restart: RESTART_REQUIRED`)
      t.equal(live(), before, `${e.engine}: not live yet`)
      await os('instance', 'restart', name)
      t.equal(await waitStatus(name, 'ACTIVE'), 'ACTIVE', `${e.engine}: ACTIVE after the restart`)
      t.equal(live(), e.shown, `${e.engine}: ${e.key} = ${e.shown} after the restart`)
    } else {
      t.equal(shown.status, 'ACTIVE', `${e.engine}: dynamic: ACTIVE at once`)
      t.equal(live(), e.shown, `${e.engine}: ${e.key} = ${e.shown} at once`)
      // The value is in the engine's config too: it survives a restart.
      await os('instance', 'restart', name)
      t.equal(await waitStatus(name, 'ACTIVE'), 'ACTIVE', `${e.engine}: ACTIVE after a restart`)
      t.equal(live(), e.shown, `${e.engine}: still ${e.shown} after an engine restart`)
      // A reboot (admin) starts a new agent and a new engine: the agent reads nothing back, the engine its files.
      await admin.run(['database', 'instance', 'reboot', id])
      t.equal(await waitStatus(name, 'ACTIVE'), 'ACTIVE', `${e.engine}: ACTIVE after a reboot`)
      t.equal(live(), e.shown, `${e.engine}: still ${e.shown} after an agent and engine restart`)
    }

    await os('configuration', 'detach', name)
    const after = await osJson('instance', 'show', name)
    t.notOk(after.configuration, `${e.engine}: detached`)
    if (e.restart) {
      t.equal(after.status, 'RESTART_REQUIRED', `${e.engine}: detach needs a restart too`)
      await os('instance', 'restart', name)
      t.equal(await waitStatus(name, 'ACTIVE'), 'ACTIVE', `${e.engine}: ACTIVE after the restart`)
    } else {
      t.equal(after.status, 'ACTIVE', `${e.engine}: dynamic detach: ACTIVE`)
    }
    t.equal(live(), before, `${e.engine}: ${e.key} back to ${before}`)

    // A group given at create: its values are in the engine's config before its first start.
    const c = await runCli(
      [
        'instance',
        'create',
        `c-${e.engine}`,
        '--flavor',
        'm1.tiny',
        '--size',
        '1',
        '--datastore',
        e.engine,
        ...extra,
        '--configuration',
        `cfg-${e.engine}`,
        '--wait',
        '--timeout',
        '120',
        '-f',
        'json',
      ],
      server.env,
    )
    t.equal(c.code, 0, `${e.engine}: create --configuration --wait (${c.stderr.trim().split('\n').pop()})`)
    const created = JSON.parse(c.stdout) as { id: string; ip: string; status: string }
    t.equal(created.status, 'ACTIVE', `${e.engine}: ACTIVE, no restart needed`)
    t.match((await osJson('instance', 'show', created.id)).configuration, cfg.id, `${e.engine}: the group is attached from the start`)
    t.equal(engineValue(e.engine, created.ip, guestDir(dataDir, created.id), e.key), e.shown, `${e.engine}: ${e.key} = ${e.shown} from the first start`)
    t.equal((await runCli(['instance', 'delete', created.id, '--wait'], server.env)).code, 0, `${e.engine}: deleted`)
    await os('configuration', 'delete', cfg.id)
  }
})
