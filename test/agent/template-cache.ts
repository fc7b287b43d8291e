// The template cache with a scripted "engine": key, publish race, validation, copy.
import t, { type Test } from 'tap'
import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import { userInfo } from 'node:os'
import { join } from 'node:path'
import type { Datastore, EngineCommand, TemplateInit } from '../../src/agent/datastores/types.js'
import { TEMPLATE_FORMAT, TEMPLATE_INFO, TemplateCache, canonicalJson, syncTree, templateKey, versionLine, type TemplateIngredients } from '../../src/agent/template-cache.js'

const me = userInfo()
const user = { name: me.username, uid: me.uid, gid: me.gid }

/** A datastore whose init is a shell script writing a few files (and reading its cnf). */
function fakeEngine(o: { version?: string; initSleep?: number; failInit?: boolean; setting?: string; versionFails?: boolean } = {}): Datastore & { inits: number } {
  const ds = {
    name: 'fake',
    inits: 0,
    pidFiles: [],
    logFile: '/dev/null',
    sockets: [],
    stopSignal: 'SIGTERM' as const,
    staleFiles: [],
    writeConfig: async () => {},
    initCommand: async () => undefined,
    serverCommand: async (): Promise<EngineCommand> => ({ file: 'true', args: [], asUser: false }),
    probe: async () => true,
    faultLine: () => undefined,
    versionCommand: async (): Promise<EngineCommand> => ({
      file: 'sh',
      args: ['-c', o.versionFails ? 'echo boom >&2; exit 3' : `echo "/usr/sbin/fake  Ver ${o.version ?? '1.0'}"`],
      asUser: false,
    }),
    templateInit: async (dataDir: string): Promise<TemplateInit> => {
      ds.inits++
      const script = [
        `sleep ${(o.initSleep ?? 0) / 1000}`,
        o.failInit ? 'echo "fake-init: error: disk on fire" >&2; exit 1' : '',
        'mkdir -p "$1/base/1" && echo 15 > "$1/PG_VERSION" && cat "$1.cnf" > "$1/base/1/conf" && chmod 600 "$1/PG_VERSION"',
      ].join('\n')
      return {
        command: { file: 'sh', args: ['-c', script, 'sh', dataDir], asUser: false },
        files: [{ path: `${dataDir}.cnf`, text: `setting=${o.setting ?? 'a'}\n` }],
        extra: { host: 'h1' },
      }
    },
  }
  return ds
}

function cache(dir: string, lines: string[] = [], instanceId = 'i1'): TemplateCache {
  return new TemplateCache({ dir, manager: 'postgresql', user, instanceId, log: (l) => lines.push(l) })
}

function templateRoot(t: Test): string {
  const dir = t.testdir({})
  const root = join(dir, 'templates')
  mkdirSync(root, { mode: 0o711 })
  return root
}

const ingredients: TemplateIngredients = {
  format: TEMPLATE_FORMAT,
  manager: 'postgresql',
  version: 'initdb (PostgreSQL) 15.18',
  runUser: { name: 'troveguest', uid: 999, gid: 995 },
  env: { LANG: 'C.UTF-8' },
  init: { file: 'initdb', args: ['-D', '@DATADIR@'], asUser: true },
  files: [],
  extra: {},
}

t.test('the key: short, stable, and changed by every ingredient', async (t) => {
  const key = templateKey(ingredients)
  t.match(key, /^postgresql-[0-9a-f]{16}$/)
  t.equal(templateKey(JSON.parse(JSON.stringify(ingredients))), key, 'same ingredients, same key')
  const reordered = Object.fromEntries(Object.entries(ingredients).reverse()) as unknown as TemplateIngredients
  t.equal(templateKey(reordered), key, 'key order does not matter')
  const variants: Array<Partial<TemplateIngredients>> = [
    { version: 'initdb (PostgreSQL) 15.19' },
    { runUser: { name: 'troveguest', uid: 1000, gid: 995 } },
    { init: { file: 'initdb', args: ['-D', '@DATADIR@', '-k'], asUser: true } },
    { files: [{ path: '@DATADIR@.cnf', text: 'innodb_log_file_size=48M\n' }] },
    { extra: { hostname: 'other' } },
    { format: TEMPLATE_FORMAT + 1 },
  ]
  for (const v of variants) t.not(templateKey({ ...ingredients, ...v }), key, `changed by ${Object.keys(v)[0]}`)
  t.equal(canonicalJson({ b: 1, a: [{ d: 2, c: 3 }] }), '{"a":[{"c":3,"d":2}],"b":1}')
})

t.test('version lines lose the program path', async (t) => {
  t.equal(versionLine('/usr/sbin/mariadbd  Ver 10.11.19-MariaDB for debian-linux-gnu\n'), 'Ver 10.11.19-MariaDB for debian-linux-gnu')
  t.equal(versionLine('\ninitdb (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)\n'), 'initdb (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)')
  t.equal(versionLine('  \n'), undefined)
})

t.test('identify: the key does not depend on the instance, only on what shapes init', async (t) => {
  const root = templateRoot(t)
  const a = await cache(root, [], 'inst-a').identify(fakeEngine())
  const b = await cache(root, [], 'inst-b').identify(fakeEngine())
  t.equal(a.key, b.key)
  t.same(a.ingredients.files, [{ path: '@DATADIR@.cnf', text: 'setting=a\n' }], 'paths under a placeholder')
  t.equal(a.ingredients.version, 'Ver 1.0')
  t.not((await cache(root).identify(fakeEngine({ version: '1.1' }))).key, a.key, 'another version')
  t.not((await cache(root).identify(fakeEngine({ setting: 'b' }))).key, a.key, 'another config')
  await t.rejects(cache(root).identify(fakeEngine({ versionFails: true })), /sh --version failed: boom/)
  await t.rejects(cache(root).identify(fakeEngine({ versionFails: true })), /boom/, 'a failed version read is not cached')
})

t.test('made once, published atomically, then reused; the copy drops template.json', async (t) => {
  const root = templateRoot(t)
  const lines: string[] = []
  const c = cache(root, lines)
  const ds = fakeEngine()
  const id = await c.identify(ds)
  t.equal(await c.check(id), 'missing')
  const first = await c.provide(ds, id)
  t.same([first.built, first.path], [true, join(root, id.key)])
  t.same(readdirSync(root), [id.key], 'only the final name: no scratch dir or cnf left')
  const info = JSON.parse(readFileSync(join(first.path, TEMPLATE_INFO), 'utf8'))
  t.equal(info.key, id.key)
  t.same(info.ingredients, id.ingredients)
  t.equal(info.createdBy.instanceId, 'i1')
  t.equal(readFileSync(join(first.path, 'base/1/conf'), 'utf8'), 'setting=a\n', 'init read its cnf')
  t.equal(statSync(first.path).mode & 0o777, 0o700)
  t.equal(await c.check(id), undefined)

  const again = await c.provide(ds, id)
  t.equal(again.built, false, 'reused')
  t.equal(ds.inits, 2, 'init ran once (plus the placeholder call of identify)')

  const data = join(root, '..', 'data')
  mkdirSync(data, { mode: 0o755 })
  await c.copyInto(first.path, data)
  t.same(readdirSync(data).sort(), ['PG_VERSION', 'base'])
  t.equal(statSync(data).mode & 0o777, 0o700, 'data dir 0700')
  t.equal(statSync(join(data, 'PG_VERSION')).mode & 0o777, 0o600, 'modes kept')
  t.equal(readFileSync(join(data, 'base/1/conf'), 'utf8'), 'setting=a\n')
})

t.test('agents making the same template at once: one rename wins, the others use it', async (t) => {
  const root = templateRoot(t)
  const lines: string[] = []
  const ds = fakeEngine({ initSleep: 200 })
  const caches = [1, 2, 3, 4].map((i) => cache(root, lines, `inst-${i}`))
  const id = await caches[0]!.identify(ds)
  const results = await Promise.all(caches.map((c) => c.provide(ds, id)))
  t.equal(results.filter((r) => r.built).length, 1, 'one agent built it')
  t.ok(
    results.every((r) => r.path === join(root, id.key)),
    'all use the final name',
  )
  t.same(readdirSync(root), [id.key], 'no scratch dirs left')
  t.equal(lines.filter((l) => l.endsWith('published')).length, 1)
  t.equal(lines.filter((l) => l.includes('published by another agent first')).length, 3)
  t.equal(await caches[2]!.check(id), undefined, 'the winner is valid')
})

t.test('a template whose template.json does not match is never used: replaced', async (t) => {
  const root = templateRoot(t)
  const lines: string[] = []
  const c = cache(root, lines)
  const ds = fakeEngine()
  const id = await c.identify(ds)
  await c.provide(ds, id)
  const infoFile = join(root, id.key, TEMPLATE_INFO)
  const info = JSON.parse(readFileSync(infoFile, 'utf8'))
  writeFileSync(infoFile, JSON.stringify({ ...info, ingredients: { ...info.ingredients, version: 'Ver 0.9' } }))
  t.equal(await c.check(id), `${TEMPLATE_INFO} does not match the key`)
  const r = await c.provide(ds, id)
  t.equal(r.built, true, 'made again')
  t.equal(await c.check(id), undefined)
  t.match(lines.join('\n'), /does not match the key; replacing it/)
  t.same(readdirSync(root), [id.key], 'the bad one is gone')

  writeFileSync(infoFile, '{not json')
  t.match(await c.check(id), /unreadable/)
})

t.test('a failing init leaves nothing behind and says why', async (t) => {
  const root = templateRoot(t)
  const c = cache(root)
  const ds = fakeEngine({ failInit: true })
  const id = await c.identify(ds)
  await t.rejects(c.provide(ds, id), /sh failed: fake-init: error: disk on fire/)
  t.same(readdirSync(root), [], 'no scratch dir, no cnf')
})

t.test('scratch dirs of dead agents are swept when a template is made; live ones are kept', async (t) => {
  const root = templateRoot(t)
  const dead = spawn('true')
  await new Promise((r) => dead.once('exit', r))
  const live = process.ppid
  for (const name of [`.postgresql-aa.tmp-${dead.pid}-0a1b2c3d`, `.postgresql-aa.bad-${dead.pid}-0a1b2c3d`, `.postgresql-aa.tmp-${live}-0a1b2c3d`]) mkdirSync(join(root, name))
  writeFileSync(join(root, `.postgresql-aa.tmp-${dead.pid}-0a1b2c3d.cnf`), '')
  const c = cache(root)
  const ds = fakeEngine()
  const id = await c.identify(ds)
  await c.provide(ds, id)
  t.same(readdirSync(root).sort(), [`.postgresql-aa.tmp-${live}-0a1b2c3d`, id.key].sort())
})

t.test('evict takes the template out of use', async (t) => {
  const root = templateRoot(t)
  const c = cache(root)
  const ds = fakeEngine()
  const id = await c.identify(ds)
  await c.provide(ds, id)
  await c.evict(id.key)
  t.notOk(existsSync(join(root, id.key)))
  t.same(readdirSync(root), [])
  await c.evict(id.key) // already gone: fine
})

t.test('syncTree fsyncs a tree in a child process; a missing root is an error', async (t) => {
  const dir = t.testdir({ a: { b: { c: 'x' } }, d: 'y' })
  await syncTree(dir, user)
  await t.rejects(syncTree(join(dir, 'missing'), user), { code: 'ENOENT' })
})
