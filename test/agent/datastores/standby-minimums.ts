// PostgreSQL standby minimums: a standby runs at least its primary's max_connections etc.,
// also over a configuration group that set them lower (issue 11: promote with such a group).
import t from 'tap'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { userInfo } from 'node:os'
import { currentMinimums, raiseOverrides, raiseToPrimarySettings, standbyMinimumsFile } from '../../../src/agent/datastores/postgresql/standby-minimums.js'
import { postgresOverridesFile } from '../../../src/agent/datastores/postgresql/overrides.js'
import type { InstancePaths, RunUser } from '../../../src/agent/datastores/types.js'

t.test('the group lowered max_connections under the primary: raised, the minimums file included before the group', async (t) => {
  const dir = mkdtempSync('/tmp/sm.')
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const paths = { conf: dir, data: join(dir, 'data') } as unknown as InstancePaths
  const user: RunUser = { name: userInfo().username, uid: process.getuid!(), gid: process.getgid!() } as RunUser
  const main = join(dir, 'postgresql.conf')
  const groupLine = `include_if_exists = '${postgresOverridesFile(paths)}'`
  writeFileSync(main, `port = 5432\n${groupLine}\n`)
  writeFileSync(postgresOverridesFile(paths), "# group\nmax_connections = 50\nwork_mem = '8MB'\n")

  const raised = await raiseToPrimarySettings(paths, user, { max_connections: 100, max_worker_processes: 8, max_wal_senders: 10 })
  t.same(raised, ['max_connections = 100', 'max_wal_senders = 10', "group's max_connections 50 -> 100"], 'what was raised')
  t.equal(readFileSync(postgresOverridesFile(paths), 'utf8'), "# group\nmax_connections = 100\nwork_mem = '8MB'\n", "the group's lower value raised in place, the rest kept")
  t.same(await currentMinimums(paths), { max_connections: 100, max_wal_senders: 10 }, 'the minimums file keeps them (equal to our base too: a later group is raised as well)')
  t.equal(readFileSync(main, 'utf8'), `port = 5432\ninclude_if_exists = '${standbyMinimumsFile(paths)}'\n${groupLine}\n`, 'minimums included before the group (its raised values still win)')
  await raiseToPrimarySettings(paths, user, { max_connections: 90 })
  t.equal(
    readFileSync(main, 'utf8')
      .split('\n')
      .filter((l) => l.includes('standby-minimums')).length,
    1,
    'included once',
  )
  t.same((await currentMinimums(paths)).max_connections, 100, 'never lowered')

  t.same(
    raiseOverrides({ max_connections: 40, statement_timeout: 5 }, await currentMinimums(paths)),
    { overrides: { max_connections: 100, statement_timeout: 5 }, raised: ['max_connections 40 -> 100'] },
    'a group attached later is raised too',
  )
  t.same(raiseOverrides({ max_connections: 300 }, await currentMinimums(paths)).raised, [], 'a higher value stays')
})

t.test('a primary that runs our base values: nothing written', async (t) => {
  const dir = mkdtempSync('/tmp/sm.')
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const paths = { conf: dir, data: join(dir, 'data') } as unknown as InstancePaths
  writeFileSync(join(dir, 'postgresql.conf'), 'port = 5432\n')
  t.same(await raiseToPrimarySettings(paths, { name: 'x', uid: process.getuid!(), gid: process.getgid!() } as RunUser, { max_connections: 100, max_wal_senders: 5 }), [])
  t.equal(readFileSync(join(dir, 'postgresql.conf'), 'utf8'), 'port = 5432\n')
})
