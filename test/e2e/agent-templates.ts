// Pre-initialised templates (bootstrap.templateDir) with real engines: instances copied
// from one template start, serve and are independent; every template problem falls back
// to a normal init.
import t, { type Test } from 'tap'
import { spawnSync } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { AgentBootstrap, EngineManager } from '../../src/protocol/index.js'
import { claimEndpoint, type Endpoint, releaseEndpoint, requireAgentHost } from '../helpers/agent-harness.js'
import { startAgent, type AgentHandle } from '../../src/agent/index.js'
import { TEMPLATE_INFO } from '../../src/agent/template-cache.js'

const guestUid = requireAgentHost(t)
const PG_BIN = '/usr/lib/postgresql/15/bin'
const VERSIONS: Record<string, { version: string; binDir?: string }> = {
  postgresql: { version: '15', binDir: PG_BIN },
  mariadb: { version: '10.11' },
  redis: { version: '7.0' },
}

const root = mkdtempSync('/tmp/tvt-')
chmodSync(root, 0o711)
const agents: AgentHandle[] = []
const bases: string[] = []
const endpoints: Endpoint[] = []
t.teardown(async () => {
  for (const a of agents) await a.close()
  for (const b of bases) killEngines(b)
  for (const e of endpoints) releaseEndpoint(e)
  rmSync(root, { recursive: true, force: true })
})

/** A lab's template dir: root-owned, 0711, like DIR/templates. */
function templateDir(name: string): string {
  const dir = join(root, name)
  mkdirSync(dir, { mode: 0o711 })
  return dir
}

interface Instance {
  base: string
  bootstrap: AgentBootstrap
  lines: string[]
  agent: AgentHandle
  /** The agent's log since prepare started, without timestamps. */
  log(): string
}

/** Starts an agent (no broker: prepare does not need one) and waits until prepare ends. */
async function prepared(manager: EngineManager, o: { templates?: string; serverId?: number; wait?: boolean } = {}): Promise<Instance> {
  const base = mkdtempSync(join(root, `${manager.slice(0, 2)}-`))
  chmodSync(base, 0o711)
  bases.push(base)
  const id = randomUUID()
  const v = VERSIONS[manager]!
  const at = await claimEndpoint(manager, root)
  endpoints.push(at)
  const bootstrap: AgentBootstrap = {
    instanceId: id,
    datastore: { manager, version: v.version, ...(v.binDir ? { binDir: v.binDir } : {}) },
    brokerFile: join(root, 'no-broker.json'),
    mqtt: { username: `agent-${id}`, password: 'x' },
    baseDir: base,
    address: at.address,
    port: at.port,
    flavor: { ramMb: 512, vcpus: 1 },
    volumeSize: 1,
    runUser: 'troveguest',
    serverId: o.serverId ?? 1,
    heartbeatMs: 1000,
    ...(o.templates ? { templateDir: o.templates } : {}),
    prepare: { databases: [], users: [] },
  }
  writeFileSync(join(base, 'agent.json'), JSON.stringify(bootstrap), { mode: 0o600 })
  const lines: string[] = []
  const agent = await startAgent(join(base, 'agent.json'), { log: (l) => lines.push(l) })
  agents.push(agent)
  const inst: Instance = { base, bootstrap, lines, agent, log: () => lines.map((l) => l.slice(25)).join('\n') }
  if (o.wait !== false) await done(inst)
  return inst
}

async function done(inst: Instance, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const log = inst.log()
    if (/prepare failed/.test(log)) throw new Error(`prepare failed:\n${log}`)
    if (/prepare: done/.test(log)) return
    if (Date.now() > deadline) throw new Error(`prepare did not finish:\n${log}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

function killEngines(base: string): void {
  for (const f of ['run/mysqld.pid', 'run/postgres.pid', 'data/postmaster.pid', 'run/redis.pid']) {
    try {
      const pid = Number.parseInt(readFileSync(join(base, f), 'utf8'), 10)
      if (pid > 1) process.kill(pid, 'SIGKILL')
    } catch {
      /* none */
    }
  }
}

/** One SQL statement through the engine's own client, over the unix socket, as the agent logs in. */
function sql(inst: Instance, query: string): string {
  const b = inst.bootstrap
  const r =
    b.datastore.manager === 'postgresql'
      ? spawnSync(join(PG_BIN, 'psql'), ['-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-h', join(inst.base, 'run'), '-p', String(b.port), '-U', 'postgres', '-d', 'postgres', '-c', query], {
          encoding: 'utf8',
        })
      : spawnSync('mariadb', [`--defaults-file=${join(inst.base, 'conf/my.cnf')}`, '-uroot', '-N', '-B', '-e', query], { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`${query}: ${r.stderr}`)
  return r.stdout.trim()
}

/** The data dir as the engines need it, and nothing of the template's bookkeeping in it. */
function checkDataDir(t: Test, inst: Instance): void {
  const st = statSync(join(inst.base, 'data'))
  t.equal(st.mode & 0o777, 0o700, 'data dir mode 0700')
  t.equal(st.uid, guestUid, 'data dir owned by the run user')
  t.notOk(existsSync(join(inst.base, 'data', TEMPLATE_INFO)), 'no template.json in the data dir')
}

/** The template dir holds exactly one template (no scratch), whose template.json names its key. */
function onlyTemplate(t: Test, dir: string, ...made: Instance[]): string {
  const names = readdirSync(dir)
  const logs = names.length === 1 ? '' : made.map((i) => `\n${i.log()}`).join('')
  t.equal(names.length, 1, `one entry in the template dir: ${names.join(' ')}${logs}`)
  const key = names[0]!
  t.equal(JSON.parse(readFileSync(join(dir, key, TEMPLATE_INFO), 'utf8')).key, key, 'template.json names its key')
  t.equal(statSync(join(dir, key)).uid, guestUid, 'template owned by the run user')
  return key
}

t.test('postgresql: two instances from one template start, serve and are independent', async (t) => {
  const dir = templateDir('pg')
  const a = await prepared('postgresql', { templates: dir })
  t.match(a.log(), /template postgresql-[0-9a-f]{16} published/, 'the first create made the template')
  t.match(a.log(), /data dir copied from template/, 'and copied it')
  const key = onlyTemplate(t, dir, a)
  const b = await prepared('postgresql', { templates: dir })
  t.match(b.log(), new RegExp(`data dir copied from template ${key} in \\d+ ms\\n`), 'the second only copied it')
  t.notMatch(b.log(), /initialised|published/, 'no init the second time')
  for (const i of [a, b]) {
    t.equal(sql(i, 'select 1'), '1', 'accepts connections')
    checkDataDir(t, i)
  }
  sql(a, 'create table only_in_a (x int); insert into only_in_a values (1)')
  sql(b, 'create table only_in_b (x int)')
  t.equal(sql(a, "select to_regclass('only_in_b') is null"), 't', "a does not see b's table")
  t.equal(sql(b, "select to_regclass('only_in_a') is null"), 't', "b does not see a's table")
  t.equal(sql(a, 'select count(*) from only_in_a'), '1')
  // Shared by design: see PostgresqlService.templateInit for why that is fine.
  const ids = [a, b].map((i) => sql(i, 'select system_identifier from pg_control_system()'))
  t.equal(ids[0], ids[1], `the system identifier comes from the template (${ids[0]})`)
})

t.test('mariadb: two instances from one template; root socket login and their own server_id', async (t) => {
  const dir = templateDir('mdb')
  const a = await prepared('mariadb', { templates: dir, serverId: 21 })
  t.match(a.log(), /template mariadb-[0-9a-f]{16} published/)
  const key = onlyTemplate(t, dir, a)
  const b = await prepared('mariadb', { templates: dir, serverId: 22 })
  t.match(b.log(), new RegExp(`data dir copied from template ${key} in \\d+ ms\\n`))
  t.notMatch(b.log(), /initialised|published/)
  for (const [i, id] of [
    [a, 21],
    [b, 22],
  ] as const) {
    t.equal(sql(i, 'select current_user()'), 'root@localhost', 'root@localhost logs in over the socket (unix_socket)')
    t.equal(sql(i, 'select @@server_id'), String(id), "server_id is the instance's own")
    checkDataDir(t, i)
  }
  sql(a, 'create database only_a; create table only_a.t (x int) engine=InnoDB; insert into only_a.t values (1)')
  t.equal(sql(b, "show databases like 'only_a'"), '', 'b has no only_a')
  t.equal(sql(a, 'select count(*) from only_a.t'), '1')
  t.match(sql(a, 'select @@gtid_binlog_pos'), /^0-21-\d+$/, "a's binlog events carry its server id")
  t.equal(sql(b, 'select @@gtid_binlog_pos'), '', "b's binlog is its own (empty)")
})

t.test('three agents making the same template at once: one publishes, all start', async (t) => {
  const dir = templateDir('race')
  const insts = await Promise.all([1, 2, 3].map(() => prepared('postgresql', { templates: dir })))
  const logs = insts.map((i) => i.log()).join('\n')
  if (process.env.AGENT_TEST_VERBOSE) t.comment(logs)
  t.equal(logs.match(/ published\n/g)?.length, 1, 'exactly one rename won')
  t.equal(logs.match(/data dir copied from template/g)?.length, 3, 'all three copied the one template')
  onlyTemplate(t, dir, ...insts)
  for (const i of insts) t.equal(sql(i, 'select 1'), '1')
})

t.test('a template the engine cannot start from: a normal init, and the template is evicted', async (t) => {
  const dir = templateDir('broken')
  const a = await prepared('postgresql', { templates: dir })
  const key = onlyTemplate(t, dir, a)
  // template.json is fine, the data is not.
  rmSync(join(dir, key, 'global/pg_control'))
  const b = await prepared('postgresql', { templates: dir })
  t.match(b.log(), new RegExp(`did not come up from template ${key} \\(.+\\); initialising from scratch`), 'says why')
  t.match(b.log(), /data dir initialised in \d+ ms/)
  t.match(b.log(), new RegExp(`template ${key} evicted`))
  t.same(readdirSync(dir), [], 'the bad template is gone')
  t.equal(sql(b, 'select 1'), '1', 'the instance serves')
  checkDataDir(t, b)
  const c = await prepared('postgresql', { templates: dir })
  t.match(c.log(), /published/, 'the next create makes a new one')
})

t.test('an unusable template dir: a normal init, logged once', async (t) => {
  const file = join(root, 'not-a-dir')
  writeFileSync(file, '')
  const a = await prepared('postgresql', { templates: file })
  t.equal(a.log().match(/template not used \(.*\); initialising from scratch/g)?.length, 1, a.log())
  t.match(a.log(), /data dir initialised in \d+ ms/)
  t.equal(sql(a, 'select 1'), '1')
})

t.test('redis has no init: the template dir is not touched', async (t) => {
  const dir = templateDir('redis')
  const a = await prepared('redis', { templates: dir })
  t.notMatch(a.log(), /template/)
  t.same(readdirSync(dir), [])
})
