import t, { type Test } from 'tap'
import { appendFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { GuestLogManager, LOG_CHUNK_BYTES, type GuestLogDef } from '../../src/agent/guest-log.js'
import { ModuleManager } from '../../src/agent/handlers/modules.js'

function setup(t: Test, restart = false) {
  const dir = mkdtempSync('/tmp/gl.')
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const switched: boolean[] = []
  let pid = 100
  const defs: GuestLogDef[] = [
    {
      name: 'general',
      type: 'USER',
      file: join(dir, 'general.log'),
      exposed: true,
      setEnabled: async (on) => {
        switched.push(on)
        return restart
      },
    },
    { name: 'error', type: 'SYS', file: join(dir, 'error.log'), exposed: false },
  ]
  const m = new GuestLogManager(defs, { instanceId: 'inst', manager: 'mariadb', storageDir: join(dir, 'storage'), stateFile: join(dir, 'state.json'), enginePid: () => pid, log: () => {} })
  const act = (name: string, a: Partial<{ enable: boolean; disable: boolean; publish: boolean; discard: boolean; isAdmin: boolean }> = {}) =>
    m.action({ name, enable: false, disable: false, publish: false, discard: false, isAdmin: false, ...a })
  return { dir, m, act, switched, setPid: (p: number) => (pid = p), objects: (log: string) => readdirSync(join(dir, 'storage', 'database_logs', 'inst', `mariadb-${log}`)).sort() }
}

t.test('status machine, publish in 1 MB chunks, rotation, discard', async (t) => {
  const { dir, m, act, switched, objects } = setup(t)
  t.same(
    (await m.list(false)).map((l) => l.name),
    ['general'],
    'non-admins see exposed logs only',
  )
  t.same(
    (await m.list(true)).map((l) => l.name),
    ['general', 'error'],
  )
  t.match(await act('general'), { status: 'Disabled', published: 0, pending: 0, container: 'None', prefix: 'None', metafile: 'inst/mariadb-general_metafile' })
  t.match(await act('general', { enable: true }), { status: 'Unavailable' }, 'enabled, no file yet')
  t.same(switched, [true])
  writeFileSync(join(dir, 'general.log'), 'header line\n')
  t.match(await act('general'), { status: 'Ready', pending: 12 })
  appendFileSync(join(dir, 'general.log'), Buffer.alloc(LOG_CHUNK_BYTES + 10, 'a'))
  const pub = await act('general', { publish: true })
  t.match(pub, { status: 'Published', published: LOG_CHUNK_BYTES + 22, pending: 0, container: 'database_logs', prefix: 'inst/mariadb-general/' })
  t.equal(objects('general').length, 2, 'two chunks')
  t.equal(statSync(join(dir, 'storage', 'database_logs', 'inst', 'mariadb-general', objects('general')[0]!)).size, LOG_CHUNK_BYTES)
  t.equal(statSync(join(dir, 'storage')).mode & 0o777, 0o700)
  appendFileSync(join(dir, 'general.log'), 'more\n')
  t.match(await act('general'), { status: 'Partial', pending: 5 })
  await act('general', { publish: true })
  t.equal(objects('general').length, 3, 'only the new bytes are appended')
  // Rotation: a new file with another first line.
  writeFileSync(join(dir, 'general.log'), 'rotated first line\n')
  t.match(await act('general'), { status: 'Rotated', pending: 19 })
  const again = await act('general', { publish: true })
  t.match(again, { status: 'Published', published: 19 })
  t.equal(objects('general').length, 1, 'the old copy was discarded first')
  t.match(await act('general', { discard: true }), { published: 0, container: 'None', status: 'Ready' })
  t.notOk(existsSync(join(dir, 'storage', 'database_logs', 'inst', 'mariadb-general_metafile')))
  t.match(await act('general', { disable: true }), { status: 'Disabled' })
  t.same(switched, [true, false])
  t.match(JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')), { general: { enabled: false } }, 'the state survives restarts')
})

/** Resolves when `p` rejects with an error matching `wanted`. */
async function refused(t: Test, p: Promise<unknown>, wanted: Record<string, unknown>): Promise<void> {
  try {
    await p
    t.fail('should have been refused')
  } catch (e) {
    t.match(e, wanted)
  }
}

t.test('refusals', async (t) => {
  const { act } = setup(t)
  await refused(t, act('nope'), { kind: 'NotFound', message: "Log 'nope' is not defined." })
  await refused(t, act('general', { enable: true, disable: true }), { kind: 'BadRequest' })
  await refused(t, act('error'), { kind: 'Forbidden', message: "User does not have admin privileges to 'show' the 'error' log." })
  await refused(t, act('error', { enable: true, isAdmin: true }), { kind: 'BadRequest', message: "Cannot enable a SYSTEM log ('error')." })
  await refused(t, act('error', { publish: true, isAdmin: true }), { kind: 'BadRequest', message: /does not exist/ })
})

t.test('restart required until the engine restarts; publish implies enable', async (t) => {
  const { act, setPid, switched } = setup(t, true)
  t.match(await act('general', { publish: false, enable: true }), { status: 'Restart Required' })
  t.match(await act('general'), { status: 'Restart Required' }, 'sticky')
  setPid(200)
  t.match(await act('general'), { status: 'Unavailable' }, 'cleared by a new engine pid')
  t.same(switched, [true])
})

t.test('modules: ping decodes base64 contents; results, removal', async (t) => {
  const dir = mkdtempSync('/tmp/gm.')
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const mm = new ModuleManager(dir, () => {})
  const mod = (id: string, contents: string, extra = {}) => ({ module: { id, name: id, type: 'ping', md5: 'x', contents, ...extra } })
  const res = await mm.apply([mod('b', Buffer.from('message=hi there\n').toString('base64'), { apply_order: 6 }), mod('a', 'message: plain text', { priority_apply: true })])
  t.same(
    res.map((r) => [r.id, r.status, r.message]),
    [
      ['a', 'OK', 'plain text'],
      ['b', 'OK', 'hi there'],
    ],
    'priority first; base64 and plain contents',
  )
  t.equal(readFileSync(join(dir, 'modules', 'ping', 'b', 'contents.dat'), 'utf8'), 'message=hi there\n')
  t.equal((await mm.apply([mod('c', 'nothing')]))[0]!.status, 'ERROR')
  t.same(
    (await mm.list(true)).map((r) => [r.id, typeof r.contents]),
    [
      ['a', 'string'],
      ['b', 'string'],
      ['c', 'string'],
    ],
  )
  await mm.remove(mod('a', ''))
  t.same(
    (await mm.list(false)).map((r) => r.id),
    ['b', 'c'],
  )
  await refused(t, mm.remove(mod('zz', '')), { type: 'NotFound' })
  await refused(t, (async () => mm.apply([{ module: { id: '../x', name: 'x', type: 'ping' } }]))(), { type: 'BadRequest' })
})
