// MariaDB through the guest agent, against the real engine: passwords never in clear in the
// binlog, names with control characters refused, and an agent restarted while its engine runs
// answers guest calls once it has re-adopted the engine (instead of "not prepared").
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { startAgent, type AgentHandle } from '../../src/agent/index.js'
import { Supervisor } from '../../src/agent/supervisor.js'
import { nativePasswordHash } from '../../src/agent/datastores/mariadb/users.js'
import { startAgentHarness, type Instance, requireAgentHost } from '../helpers/agent-harness.js'

requireAgentHost(t)

const { heartbeats, call, waitFor, endpoint, makeInstance, killEngines } = await startAgentHarness(t)

const login = (inst: Instance, user: string, password: string): boolean =>
  spawnSync('mariadb', ['--no-defaults', '-h', inst.bootstrap.address, '-P', String(inst.bootstrap.port), '-u', user, '-N', '-B', '-e', 'SELECT 1'], {
    encoding: 'utf8',
    env: { ...process.env, MYSQL_PWD: password },
  }).status === 0

/** Every event of every binlog file of the instance, decoded by the engine's own tool. */
function binlogText(inst: Instance): string {
  const data = join(inst.base, 'data')
  const files = readdirSync(data)
    .filter((f) => /^mysql-bin\.\d+$/.test(f))
    .map((f) => join(data, f))
  const r = spawnSync('mariadb-binlog', ['--no-defaults', ...files], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 })
  if (r.status !== 0) throw new Error(`mariadb-binlog: ${r.stderr}`)
  return r.stdout
}

async function ok(id: string, method: string, args: Record<string, unknown> = {}): Promise<unknown> {
  const r = await call(id, method, args)
  if (!r.ok) throw new Error(`${method}: ${r.error?.type}: ${r.error?.message}`)
  return r.result
}

let handle: AgentHandle | undefined
const inst = makeInstance('mariadb', '10.11', await endpoint('mariadb'), {
  prepare: { databases: [{ name: 'appdb' }], users: [{ name: 'app', password: 'Prep-pw-0', databases: [{ name: 'appdb' }] }] },
})
t.teardown(async () => {
  await handle?.close()
  killEngines(inst.base)
})
handle = await startAgent(inst.config, { log: () => {} })
await waitFor('HEALTHY', () => (heartbeats.get(inst.id) ?? []).find((h) => h.status === 'HEALTHY'), 120_000)

t.test('passwords reach the binlog only as their hash (create, change, update, root, replication user)', async (t) => {
  const id = inst.id
  await ok(id, 'create_user', { users: [{ name: 'bob', password: 'Secret-1', host: '%', databases: [{ name: 'appdb' }] }] })
  t.ok(login(inst, 'bob', 'Secret-1'), 'bob logs in with the password whose hash was sent')
  await ok(id, 'change_passwords', { users: [{ name: 'bob', host: '%', password: 'Secret-2' }] })
  t.ok(login(inst, 'bob', 'Secret-2'), 'changed password works')
  t.notOk(login(inst, 'bob', 'Secret-1'), 'old one refused')
  await ok(id, 'update_attributes', { username: 'bob', hostname: '%', user_attrs: { password: 'Secret-3' } })
  t.ok(login(inst, 'bob', 'Secret-3'), 'updated password works')
  await ok(id, 'enable_root_with_password', { root_password: 'Secret-4' })
  t.ok(login(inst, 'root', 'Secret-4'), 'root logs in')
  const generated = (await ok(id, 'enable_root')) as { password: string }
  t.ok(login(inst, 'root', generated.password), 'root with a generated password')
  const snapshot = (await ok(id, 'get_replication_snapshot', { snapshot_info: {} })) as { replica_conf?: { replication_user?: { password: string } } }
  const replPw = snapshot.replica_conf?.replication_user?.password

  const text = binlogText(inst)
  t.match(text, /CREATE USER 'bob'@'%' IDENTIFIED BY PASSWORD '\*[0-9A-F]{40}'/, 'the binlog has the statement, with a hash')
  for (const pw of ['Prep-pw-0', 'Secret-1', 'Secret-2', 'Secret-3', 'Secret-4', generated.password, ...(replPw ? [replPw] : [])]) {
    t.notOk(text.includes(pw), `${pw.slice(0, 4)}... is not in the binlog`)
  }
  t.ok(text.includes(nativePasswordHash('Secret-2')), 'the hash of a changed password is')
  t.ok(replPw, 'the replication user was created (its password checked above)')
})

t.test('attacks: database and user names with a tab or another control character are refused, nothing created', async (t) => {
  const id = inst.id
  for (const bad of ['tab\tdb', 'nl\ndb', 'c1\u0085db']) {
    const r = await call(id, 'create_database', { databases: [{ name: bad }] })
    t.match(r.error, { type: 'BadRequest', message: /is not a valid schema name\.$/ }, `database ${JSON.stringify(bad)}`)
    const u = await call(id, 'create_user', { users: [{ name: bad, password: 'pw-1', host: '%' }] })
    t.match(u.error, { type: 'BadRequest', message: /is not a valid user name\.$/ }, `user ${JSON.stringify(bad)}`)
  }
  const dbs = (await ok(id, 'list_databases', {})) as [Array<{ name: string }>]
  t.same(
    dbs[0].map((d) => d.name),
    ['appdb'],
    'no database was created',
  )
  const users = (await ok(id, 'list_users', {})) as [Array<{ name: string }>]
  t.same(users[0].map((u) => u.name).sort(), ['app', 'bob'], 'no user was created')
})

t.test('an agent restarted while its engine runs answers once it has re-adopted the engine', async (t) => {
  await handle!.close()
  await handle!.done
  handle = undefined
  const log: string[] = []
  const sup = new Supervisor(
    inst.bootstrap,
    (l) => log.push(l),
    () => {},
  )
  t.teardown(() => sup.close())
  // Calls made the moment boot starts (the RPC connection races the boot in startAgent).
  const boot = sup.boot()
  const accounts = sup.accounts()
  const prepare = sup.prepare()
  const listed = await (await accounts).listDatabases()
  t.same(listed, [{ name: 'appdb' }], 'the account call waited for the re-adoption instead of "not prepared"')
  await prepare
  await boot
  t.ok(
    log.some((l) => l.startsWith('re-adopted running mariadb')),
    'the engine was re-adopted',
  )
  t.notOk(
    log.some((l) => l.startsWith('prepare:')),
    'a prepare during the boot did not prepare again (no kill, no wipe)',
  )
  t.ok(login(inst, 'bob', 'Secret-3'), 'data intact')
})
