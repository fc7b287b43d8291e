// Durability and security checks on a real lab (issue 6): file modes of the database,
// bootstraps, engine credentials and data; no password in any process's command line, in
// the server log, agent logs or engine logs; tokens stored hashed; request body limit.
// Anonymous and cross-agent MQTT access is refused: see test/server/broker.ts.
// Project isolation and admin-only routes on every route: test/server/route-isolation.ts.
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { lstatSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { parse } from 'yaml'
import { TroveClient } from '../../src/sdk/index.js'
import { runCli, startServerProcess, tempDir, TROVE } from '../helpers/lab.js'
import { detectEngines } from '../../src/server/compute/engines.js'
import { DEFAULT_RUN_USER } from '../../src/protocol/index.js'
import { guestDir } from '../helpers/guest.js'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const engines = await detectEngines()
const have = (m: string) => engines.some((e) => e.manager === m)
const secret = (tag: string) => `${tag}-${randomBytes(9).toString('hex')}-Z9`

/** Every file under `dir` (no symlinks followed). */
function walk(dir: string): string[] {
  const out: string[] = []
  let names: string[] = []
  try {
    names = readdirSync(dir)
  } catch {
    return out
  }
  for (const n of names) {
    const p = join(dir, n)
    let st
    try {
      st = lstatSync(p)
    } catch {
      continue
    }
    if (st.isDirectory()) out.push(p, ...walk(p))
    else if (st.isFile()) out.push(p)
  }
  return out
}

function uidOf(user: string): number {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${user}:`))
  return Number(line?.split(':')[2] ?? -1)
}

t.test(
  'secrets stay out of ps, logs and world-readable files; files have safe modes; tokens are hashed',
  { skip: have('postgresql') && have('redis') ? false : 'postgresql and redis are needed' },
  async (t) => {
    const dir = tempDir(t, 'ts')
    const dataDir = join(dir, 'lab')
    // The `none` layout's file modes and owners (one engine user, troveguest): explicit whatever TROVE_ISOLATION
    // says. A sandbox's are the attack suites' (test/e2e/attack-*.ts, isolation-sandbox.ts).
    const server = await startServerProcess(t, dataDir, ['--isolation', 'none'])
    const auth = parse(readFileSync(server.cloudsFile, 'utf8')).clouds['trove-lab'].auth
    const client = new TroveClient({
      auth: {
        authType: 'password',
        authUrl: auth.auth_url,
        username: auth.username,
        password: auth.password,
        projectName: auth.project_name,
        userDomainName: 'Default',
        projectDomainName: 'Default',
        interface: 'public',
      },
    })
    const known = new Map<string, string>() // password -> what it is
    const add = (what: string, pw: string) => {
      known.set(pw, what)
      return pw
    }

    // Sample every process's command line while the lab works (the CLI client that was handed
    // a password in its own argv by the user is not a lab process and is skipped).
    const hits = new Set<string>()
    let sampling = true
    const sampler = (async () => {
      while (sampling) {
        for (const p of readdirSync('/proc')) {
          if (!/^\d+$/.test(p)) continue
          let cmd = ''
          try {
            cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8')
          } catch {
            continue
          }
          if (cmd.includes(`${TROVE}\0instance\0create`)) continue
          for (const [pw, what] of known) if (cmd.includes(pw)) hits.add(`pid ${p} (${cmd.split('\0')[0]}): ${what}`)
        }
        await sleep(20)
      }
    })()

    const u1 = add('user u1 of create --users', secret('u1'))
    const created = await runCli(
      ['instance', 'create', 'sec-pg', '--flavor', '1', '--size', '1', '--datastore', 'postgresql', '--databases', 'd1', '--users', `u1:${u1}`, '--wait', '--timeout', '150', '-f', 'json'],
      server.env,
    )
    t.equal(created.code, 0, `create --users exits 0 ${created.stderr}`)
    const pg = JSON.parse(created.stdout) as { id: string; status: string }
    t.equal(pg.status, 'ACTIVE')
    const rd = await client.instances.create({ name: 'sec-redis', flavorRef: '1', volume: { size: 1 }, datastore: { type: 'redis' } })
    for (let i = 0; i < 450 && (await client.instances.get(rd.id)).status !== 'ACTIVE'; i++) await sleep(200)
    t.equal((await client.instances.get(rd.id)).status, 'ACTIVE', 'redis ACTIVE')

    await client.users.create(pg.id, [{ name: 'u2', password: add('user u2 (users create)', secret('u2')), databases: [{ name: 'd1' }] }])
    await client.users.update(pg.id, 'u2', undefined, { password: add('u2 changed password', secret('u2b')) }).catch(() => undefined)
    add('pg root (given)', secret('root'))
    const pgRoot = await client.root.enable(pg.id, [...known.keys()].pop())
    t.ok(pgRoot.password, 'pg root enabled')
    const rdRoot = await client.root.enable(rd.id)
    add('redis root (generated)', rdRoot.password)
    for (const f of walk(join(dataDir, 'instances'))) {
      if (f.endsWith('/conf/admin.secret')) add(`engine admin secret ${f.split('/').slice(-3, -2)}`, readFileSync(f, 'utf8').trim())
    }
    const boot = JSON.parse(readFileSync(join(guestDir(dataDir, pg.id), 'agent.json'), 'utf8')) as { mqtt: { password: string } }
    add('agent MQTT password', boot.mqtt.password)
    add('demo user password', auth.password)
    await client.request('POST', `/instances/${pg.id}/action`, { body: { restart: {} } })
    for (let i = 0; i < 300 && (await client.instances.get(pg.id)).status !== 'ACTIVE'; i++) await sleep(200)
    await sleep(1500)
    sampling = false
    await sampler
    t.same([...hits], [], 'no password in any process command line (sampled every 20 ms during create, user, root and restart)')

    // Logs: the server's output, every agent log and every engine log.
    const logs: Array<[string, string]> = [['server output', server.output()]]
    for (const f of walk(join(dataDir, 'instances'))) if (/\.log$|\/log\//.test(f)) logs.push([f.slice(dataDir.length), readFileSync(f, 'latin1')])
    t.ok(logs.length >= 3, `${logs.length} logs checked`)
    for (const [name, text] of logs) {
      const leaked = [...known].filter(([pw]) => text.includes(pw)).map(([, what]) => what)
      t.same(leaked, [], `no password in ${name}`)
    }

    // Files: the database and bootstraps 0600; whatever holds a secret is readable by its owner only
    // (the engine user or root); instance data and config directories closed to other users.
    const guest = uidOf(DEFAULT_RUN_USER)
    for (const f of ['trove.db', 'trove.db-wal', 'trove.db-shm']) {
      try {
        t.equal((statSync(join(dataDir, f)).mode & 0o777).toString(8), '600', `${f} is 0600`)
      } catch {
        t.comment(`${f} absent`)
      }
    }
    for (const id of [pg.id, rd.id]) t.equal((statSync(join(guestDir(dataDir, id), 'agent.json')).mode & 0o777).toString(8), '600', 'agent.json 0600')
    const holders: string[] = []
    const bad: string[] = []
    for (const f of walk(dataDir)) {
      const st = statSync(f)
      if (st.isDirectory()) {
        if (/\/instances\/[^/]+\/(data|conf|backup|tmp)$/.test(f) && (st.mode & 0o007) !== 0) bad.push(`${f} directory mode ${(st.mode & 0o777).toString(8)}`)
        continue
      }
      const text = readFileSync(f, 'latin1')
      const holds = [...known.keys()].some((pw) => text.includes(pw))
      if (holds) {
        holders.push(f.slice(dataDir.length))
        if ((st.mode & 0o077) !== 0) bad.push(`${f} holds a secret with mode ${(st.mode & 0o777).toString(8)}`)
        if (st.uid !== 0 && st.uid !== guest) bad.push(`${f} holds a secret and is owned by uid ${st.uid}`)
        if (f.includes('/instances/') && !f.endsWith('/agent.json') && st.uid !== guest && !f.includes('/conf/')) bad.push(`${f} holds an engine secret and is not owned by ${DEFAULT_RUN_USER}`)
      }
      if (f.includes('/instances/') && (st.mode & 0o004) !== 0 && /\/(data|conf)\//.test(f)) bad.push(`${f} is world-readable`)
    }
    t.comment(`files holding a secret: ${holders.join(' ')}`)
    t.same(bad, [], 'no secret readable by other users; instance data closed to other users')

    // Tokens and passwords are stored hashed: no token or password in clear in the database.
    const token = (await client.tokenInfo())!.token
    const db = new Database(join(dataDir, 'trove.db'), { readonly: true, fileMustExist: true })
    t.teardown(() => db.close())
    const digests = db.prepare('SELECT digest FROM tokens').pluck().all() as string[]
    t.ok(digests.length > 0, 'tokens recorded')
    t.notOk(digests.includes(token), 'the token itself is not stored')
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all() as string[]
    const inDb: string[] = []
    for (const table of tables) {
      const rows = db.prepare(`SELECT * FROM "${table}"`).all() as Array<Record<string, unknown>>
      const text = JSON.stringify(rows)
      if (text.includes(token)) inDb.push(`${table}: the API token`)
      for (const [pw, what] of known) if (text.includes(pw)) inDb.push(`${table}: ${what}`)
    }
    t.same(inDb, [], 'no token and no password in clear in any table of trove.db')

    // Request body limit: a 10 MB body is refused with an upstream-style 413, never a 500.
    const big = '{"instance": {"name": "' + 'x'.repeat(10 * 1024 * 1024) + '"}}'
    for (const type of ['application/json', 'application/xml']) {
      const r = await fetch(`${await client.endpoint()}/instances`, {
        method: 'POST',
        headers: { 'content-type': type, 'x-auth-token': token },
        body: type.includes('xml') ? `<instance name="${'x'.repeat(10 * 1024 * 1024)}"/>` : big,
      })
      const body = await r.json().catch(() => undefined)
      t.equal(r.status, 413, `${type}: 10 MB body -> 413`)
      t.same(body, { overLimit: { code: 413, message: 'Request body too large.' } }, `${type}: overLimit fault body`)
    }
    const noType = await fetch(`${await client.endpoint()}/instances`, { method: 'POST', headers: { 'x-auth-token': token }, body: big })
    t.not(noType.status, 500, `a 10 MB body without a Content-Type: ${noType.status}, not a 500`)
    const stillUp = await client.instances.page()
    t.equal(stillUp.items.length, 2, 'the server is fine afterwards')
    t.notMatch(server.output(), /error req-\S+ (GET|POST|PUT|PATCH|DELETE) /, 'no request ended in a 500')

    for (const id of [pg.id, rd.id]) await client.instances.delete(id)
    for (let i = 0; i < 300 && (await client.instances.page()).items.length; i++) await sleep(200)
    await client.close()
    t.equal(await server.stop(), 0)
  },
)
