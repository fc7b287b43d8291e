// Resize flavor and volume (and a PostgreSQL version upgrade) on real engines through the real trove CLI.
import t, { type Test } from 'tap'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { runCli, startServerProcess, tempDir } from '../helpers/lab.js'
import { instanceGroups, limitFiles } from '../../src/server/compute/cgroups.js'
import { guestDir } from '../helpers/guest.js'

const PSQL = '/usr/lib/postgresql/15/bin/psql'
const MB = 1024 * 1024

/** SQL (or a Redis command) on the running engine: MariaDB/PostgreSQL as u1 over TCP, Redis as the agent over its socket. */
function run(engine: string, ip: string, instanceDir: string, what: string): string {
  const r =
    engine === 'mariadb'
      ? spawnSync('mariadb', ['--no-defaults', '-h', ip, '-P', '3306', '-u', 'u1', '-N', '-B', 'd1'], { input: what, encoding: 'utf8', env: { ...process.env, MYSQL_PWD: 'Pw-one-1' } })
      : engine === 'postgresql'
        ? spawnSync(PSQL, ['-X', '-q', '-At', '-h', ip, '-p', '5432', '-U', 'u1', '-d', 'd1', '-c', what], {
            encoding: 'utf8',
            env: { ...process.env, PGPASSWORD: 'Pw-one-1', PGCONNECT_TIMEOUT: '5' },
          })
        : spawnSync('redis-cli', ['-s', join(instanceDir, 'run/redis.sock'), '--raw', ...what.split(' ')], {
            encoding: 'utf8',
            env: { ...process.env, REDISCLI_AUTH: readFileSync(join(instanceDir, 'conf/admin.secret'), 'utf8').trim() },
          })
  const lines = (r.stdout ?? '').trim().split('\n')
  return lines[lines.length - 1] ?? ''
}

const ENGINES = [
  // The memory setting each engine derives from the flavor's RAM, in the engine's own units.
  {
    engine: 'mariadb',
    memory: 'SELECT @@innodb_buffer_pool_size;',
    tiny: String(150 * MB),
    small: String(300 * MB),
    write: 'CREATE TABLE t (i INT); INSERT INTO t VALUES (1),(2),(3);',
    count: 'SELECT COUNT(*) FROM t;',
    rows: '3',
  },
  { engine: 'postgresql', memory: 'SHOW shared_buffers', tiny: '51MB', small: '102MB', write: 'CREATE TABLE t (i INT); INSERT INTO t VALUES (1),(2),(3);', count: 'SELECT COUNT(*) FROM t', rows: '3' },
  { engine: 'redis', memory: 'CONFIG GET maxmemory', tiny: String(384 * MB), small: String(768 * MB), write: 'SET k resized', count: 'GET k', rows: 'resized' },
]

t.test('resize flavor and volume on MariaDB, PostgreSQL and Redis; upgrade PostgreSQL to a second registered version', async (t) => {
  const dir = tempDir(t, 'tr')
  const dataDir = join(dir, 'lab')
  const server = await startServerProcess(t, dataDir)
  const env = { ...server.env, HOME: dir }
  const admin = { ...env, OS_CLOUD: 'trove-lab-admin' }
  const trove = (args: string[], e = env) => runCli(args, e)
  const showJson = async (name: string) => JSON.parse((await trove(['instance', 'show', name, '-f', 'json'])).stdout)

  for (const e of ENGINES) await t.test(e.engine, (t) => check(t, e))

  async function check(t: Test, e: (typeof ENGINES)[number]): Promise<void> {
    const name = `rs-${e.engine}`
    const extra = e.engine === 'redis' ? [] : ['--databases', 'd1', '--users', 'u1:Pw-one-1']
    let r = await trove(['instance', 'create', name, '--flavor', 'm1.tiny', '--size', '1', '--datastore', e.engine, ...extra, '--wait', '--timeout', '150', '-f', 'json'])
    t.equal(r.code, 0, `create --wait (${r.stderr.trim().split('\n').pop()})`)
    const { id, ip } = JSON.parse(r.stdout) as { id: string; ip: string }
    const instDir = guestDir(dataDir, id)
    const sql = (q: string) => run(e.engine, ip, instDir, q)
    const memLimit = () => {
      const mem = instanceGroups(id).find((g) => g.limits.includes('memory'))
      const file = mem && Object.keys(limitFiles('memory', mem.version, 0, 0))[0]!
      try {
        return mem ? Number(readFileSync(join(mem.dir, file!), 'utf8')) : undefined
      } catch {
        return undefined
      }
    }

    sql(e.write)
    t.equal(sql(e.count), e.rows, 'rows written')
    t.equal(sql(e.memory), e.tiny, `m1.tiny: ${e.memory} = ${e.tiny}`)
    const limitBefore = memLimit()
    if (limitBefore !== undefined) t.equal(limitBefore, 512 * MB, 'cgroup memory limit 512 MB')
    else t.skip('no memory cgroup on this host: the limit is not enforced', () => {})

    const t0 = Date.now()
    r = await trove(['instance', 'resize', 'flavor', name, 'm1.small', '--wait', '--timeout', '150'])
    t.equal(r.code, 0, `resize flavor --wait (${r.stderr.trim().split('\n').pop()})`)
    t.comment(`${e.engine}: resize flavor took ${Date.now() - t0} ms`)
    const shown = await showJson(name)
    t.match(shown, { status: 'ACTIVE', flavor: '2' }, 'ACTIVE on m1.small')
    t.equal(sql(e.memory), e.small, `m1.small: ${e.memory} = ${e.small} read from the engine`)
    if (limitBefore !== undefined) t.equal(memLimit(), 1024 * MB, 'cgroup memory limit 1024 MB')
    t.equal(sql(e.count), e.rows, 'rows kept')
    const boot = JSON.parse(readFileSync(join(instDir, 'agent.json'), 'utf8'))
    t.same(boot.flavor, { ramMb: 1024, vcpus: 1 }, 'agent.json has the new flavor')

    r = await trove(['instance', 'resize', 'volume', name, '2', '--wait', '--timeout', '60'])
    t.equal(r.code, 0, `resize volume --wait (${r.stderr.trim().split('\n').pop()})`)
    const after = await showJson(name)
    t.equal(after.volume, 2, 'instance show: 2 GB volume')
    t.type(after.volume_used, 'number', `instance show: volume_used ${after.volume_used} GB`)
    r = await trove(['instance', 'resize', 'volume', name, '2'])
    t.match(r, { code: 1, stderr: /The new volume 'size' must be larger than the current volume size of '2'. \(HTTP 400\)/ }, 'not larger: the API fault')
    t.equal(sql(e.count), e.rows, 'rows kept after the volume resize')

    if (e.engine === 'postgresql') {
      // One PostgreSQL is installed: a second version of it points at the same binaries
      // (a real major upgrade, pg_upgrade, is not possible on this machine).
      const [v] = JSON.parse((await trove(['datastore', 'version', 'list', 'postgresql', '-f', 'json'])).stdout) as Array<{ Name: string }>
      r = await trove(['datastore', 'version', 'create', `${v!.Name}-lab`, 'postgresql', 'postgresql', '', '--image-tags', 'trove', '--active', '--version-number', v!.Name], admin)
      t.equal(r.code, 0, `second version registered (${r.stderr.trim()})`)
      r = await trove(['instance', 'upgrade', name, `${v!.Name}-lab`, '--wait', '--timeout', '120'])
      t.equal(r.code, 0, `upgrade --wait (${r.stderr.trim().split('\n').pop()})`)
      t.equal((await showJson(name)).datastore_version, `${v!.Name}-lab`, 'instance show: the new version')
      t.equal(sql(e.count), e.rows, 'rows kept after the upgrade')
      t.equal(JSON.parse(readFileSync(join(instDir, 'agent.json'), 'utf8')).datastore.version, `${v!.Name}-lab`, 'agent.json switched')
    }
    r = await trove(['instance', 'delete', name, '--wait', '--timeout', '60'])
    t.equal(r.code, 0, 'deleted')
  }
})
