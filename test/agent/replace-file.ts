import t from 'tap'
import { lstatSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openAppend, replaceFile } from '../../src/agent/replace-file.js'
import { ensureIncluded, writeOwned } from '../../src/agent/datastores/overrides.js'

t.test('a link planted at the name is replaced, its target never written', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'replace-file-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const target = join(dir, 'host-file')
  writeFileSync(target, 'host\n', { mode: 0o644 })
  for (const [name, write] of [
    ['overrides.conf', (p: string) => writeOwned(p, 'work_mem = 8MB\n', { name: 'me', uid: process.getuid!(), gid: process.getgid!() })],
    ['newrelic.cfg', (p: string) => replaceFile(p, 'license_key=x\n')],
    ['postgresql.conf', (p: string) => ensureIncluded(p, "include_if_exists = 'overrides.conf'")],
  ] as const) {
    const path = join(dir, name)
    symlinkSync(target, path)
    await write(path)
    t.ok(lstatSync(path).isFile(), `${name}: a plain file now, not the link`)
    t.equal(lstatSync(path).mode & 0o777, 0o600, `${name}: 0600`)
    t.equal(readFileSync(target, 'utf8'), 'host\n', `${name}: the link's target is unchanged`)
  }
  t.match(readFileSync(join(dir, 'postgresql.conf'), 'utf8'), /^host\ninclude_if_exists/, 'ensureIncluded keeps the text it read and adds its line')
  // A dangling link (its target's directory absent) is replaced too, not an ENOENT.
  symlinkSync(join(dir, 'no', 'such'), join(dir, 'dangling'))
  await replaceFile(join(dir, 'dangling'), 'x')
  t.equal(readFileSync(join(dir, 'dangling'), 'utf8'), 'x')
  t.same(
    readdirSync(dir).filter((n) => n.endsWith('.tmp')),
    [],
    'no temporary file left',
  )
})

t.test("openAppend: an engine log's name with a link planted is a plain file again; the target is untouched", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'open-append-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const target = join(dir, 'host-file')
  writeFileSync(target, 'host\n', { mode: 0o644 })
  const log = join(dir, 'redis.log')
  symlinkSync(target, log)
  const fh = await openAppend(log)
  await fh.write('engine line\n')
  await fh.close()
  t.equal(readFileSync(target, 'utf8'), 'host\n', "the link's target is unchanged")
  t.ok(lstatSync(log).isFile(), 'the log is a plain file')
  // A dangling link (its target's directory absent inside a sandbox) is no ENOENT either.
  rmSync(log)
  symlinkSync(join(dir, 'no', 'such'), log)
  await (await openAppend(log)).close()
  t.ok(lstatSync(log).isFile(), 'a dangling link is replaced too')
  const again = await openAppend(log)
  await again.write('appended\n')
  await again.close()
  t.equal(readFileSync(log, 'utf8'), 'appended\n', 'an existing plain log is appended to')
})
