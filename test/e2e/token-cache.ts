// The CLI's token cache against real labs: a lab that is gone has its entry dropped on the next
// run (which then fails on the auth URL, not on an endpoint remembered from the old catalog);
// the entries of other clouds stay, and expired entries are pruned at the next login.
import t from 'tap'
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { labEnv, runCli, startServerProcess, tempDir } from '../helpers/lab.js'

t.test('token cache: a gone lab is forgotten, other clouds stay', async (t) => {
  const dir = tempDir(t, 'ttc')
  const home = join(dir, 'home')
  mkdirSync(home)
  const tokens = join(home, '.cache/trove/tokens')
  const a = await startServerProcess(t, join(dir, 'a'))
  const b = await startServerProcess(t, join(dir, 'b'))
  // A's clouds.yaml outlives its lab (a copy, as a user's OS_CLIENT_CONFIG_FILE might).
  const aClouds = join(dir, 'a-clouds.yaml')
  copyFileSync(a.cloudsFile, aClouds)
  const envA = { ...labEnv(aClouds), HOME: home }
  const envB = { ...labEnv(b.cloudsFile), HOME: home }
  const files = () => (existsSync(tokens) ? readdirSync(tokens).sort() : [])

  t.equal((await runCli(['instance', 'list'], envA)).code, 0, 'lab A answers')
  const [aEntry] = files()
  t.ok(aEntry, "A's token is cached")
  t.equal((await runCli(['instance', 'list'], envB)).code, 0, 'lab B answers')
  const bEntry = files().find((f) => f !== aEntry)
  t.ok(bEntry, "B's token is cached beside it")
  t.equal((await runCli(['instance', 'list'], envA)).code, 0, 'A again, from the cache')

  // Lab A goes away: its server stops and its data dir is removed.
  await a.stop()
  rmSync(join(dir, 'a'), { recursive: true, force: true })
  const gone = await runCli(['instance', 'list'], envA)
  t.equal(gone.code, 1)
  t.match(
    gone.stderr,
    new RegExp(`Unable to establish connection to ${a.url.replace(/[.]/g, '\\.')}/identity/v3/auth/tokens`),
    'the error names the auth URL (a fresh login), not the old catalog endpoint',
  )
  t.notMatch(gone.stderr, /\/v1\.0\//, 'no endpoint of the gone catalog')
  t.same(files(), [bEntry], "A's entry is dropped; B's stays")

  // An expired entry (a cloud not used for long) goes at the next login.
  writeFileSync(join(tokens, 'stale.json'), JSON.stringify({ token: 'x', catalog: [], expiresAt: '2020-01-01T00:00:00Z' }), { mode: 0o600 })
  writeFileSync(join(tokens, 'junk.json'), '{', { mode: 0o600 })
  t.equal((await runCli(['instance', 'list'], envB)).code, 0, 'B still works from its cache')
  t.same(files(), [bEntry, 'junk.json', 'stale.json'].sort(), 'a run from the cache logs in to nothing and prunes nothing')
  t.equal((await runCli(['instance', 'list'], { ...labEnv(b.cloudsFile, 'trove-lab-admin'), HOME: home })).code, 0, 'a login (B as admin) ...')
  const after = files()
  t.equal(after.length, 2, '... prunes the expired and unreadable entries, and keeps its own and the other')
  t.ok(after.includes(bEntry!) && !after.includes('stale.json') && !after.includes('junk.json'))
})
