// Per-instance uids (src/server/compute/uids.ts) against the real filesystem, real concurrent
// processes and, for the sandbox's account files, the real tools (id, setpriv) in a private
// mount namespace (unshare) where the generated files are bind-mounted over /etc.
import t from 'tap'
import { execFile, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'
import { allocateUid, passwdFor, releaseUid, sweepUids, uidOf, uidRangeFrom } from '../../../src/server/compute/uids.js'
import { TS_LOADER } from '../../helpers/ts-loader.js'

const run = promisify(execFile)

/** A claim directory and an instances root of this test's own, and a range unique to it. */
function lab() {
  const root = mkdtempSync('/tmp/tv-uids.')
  t.teardown(() => rmSync(root, { recursive: true, force: true }))
  const claimDir = join(root, 'claims')
  const instances = join(root, 'instances')
  mkdirSync(instances)
  const owner = (name: string) => {
    const d = join(instances, name)
    mkdirSync(d, { recursive: true })
    return d
  }
  return { root, claimDir, instances, owner }
}

t.test('allocate: a uid of the range, gid = uid, a claim naming the owner; found again; release', async (t) => {
  const { claimDir, owner } = lab()
  const o = { claimDir, range: { first: 500000, last: 500009 } }
  const a = owner('a')
  const ids = allocateUid(a, o)
  t.ok(ids.uid >= 500000 && ids.uid <= 500009, `uid ${ids.uid} in range`)
  t.equal(ids.gid, ids.uid)
  t.equal(readFileSync(join(claimDir, String(ids.uid)), 'utf8'), a, 'the claim file names the instance directory')
  t.same(uidOf(a, o), ids, 'the owner finds its uid (a resumed flow)')
  const b = allocateUid(owner('b'), o)
  t.not(b.uid, ids.uid, 'another instance gets another uid')
  releaseUid(ids, join(claimDir, 'not-the-owner'), o)
  t.ok(existsSync(join(claimDir, String(ids.uid))), 'a release by someone else is ignored')
  releaseUid(ids, a, o)
  releaseUid(ids, a, o)
  t.notOk(existsSync(join(claimDir, String(ids.uid))), 'released (twice: idempotent)')
  t.equal(uidOf(a, o), undefined)
})

t.test('the range runs out with a one-line error; host ids are skipped; a stale claim is taken over', async (t) => {
  const { root, claimDir, owner } = lab()
  const passwdFile = join(root, 'passwd')
  const groupFile = join(root, 'group')
  writeFileSync(passwdFile, 'root:x:0:0::/root:/bin/sh\nsomeone:x:500100:100::/home:/bin/sh\n')
  writeFileSync(groupFile, 'root:x:0:\nsomegroup:x:500101:\n')
  const o = { claimDir, range: { first: 500100, last: 500102 }, passwdFile, groupFile }
  t.same(allocateUid(owner('a'), o), { uid: 500102, gid: 500102 }, 'a host user and a host group id are skipped')
  t.throws(() => allocateUid(owner('b'), o), /^no free uid left in 500100-500102 \(claims in .*\)$/)
  rmSync(owner('a'), { recursive: true })
  // Another process deciding about that stale claim right now (its lock, a live pid): skipped, not raced.
  writeFileSync(join(claimDir, '.500102.lock'), String(process.pid))
  t.throws(() => allocateUid(owner('b'), o), /^no free uid left/, 'a stale claim under a live lock is left to its taker')
  t.equal(readFileSync(join(claimDir, '500102'), 'utf8'), join(root, 'instances', 'a'), 'and untouched')
  rmSync(join(claimDir, '.500102.lock'))
  t.same(allocateUid(owner('c'), o), { uid: 500102, gid: 500102 }, 'the claim of a deleted instance directory is taken over')
  t.equal(readFileSync(join(claimDir, '500102'), 'utf8'), owner('c'))
})

t.test('two processes allocating at once (stale claims among the free ones) get disjoint uids', async (t) => {
  const { claimDir, instances, owner } = lab()
  const range = { first: 510000, last: 510039 }
  // A quarter of the range held by instances that are gone: both processes race to take them over.
  mkdirSync(claimDir)
  for (let i = 0; i < 10; i++) writeFileSync(join(claimDir, String(510000 + i * 4)), join(instances, `gone-${i}`))
  const mod = resolve('src/server/compute/uids.ts')
  const script = `const { allocateUid } = await import(${JSON.stringify(mod)});
const [claimDir, dir, tag] = process.argv.slice(1);
const fs = await import('node:fs');
const out = [];
for (let i = 0; i < 20; i++) { const d = dir + '/' + tag + '-' + i; fs.mkdirSync(d); out.push(allocateUid(d, { claimDir, range: { first: ${range.first}, last: ${range.last} } }).uid) }
console.log(JSON.stringify(out))`
  owner('x')
  const procs = ['p', 'q'].map((tag) => run(process.execPath, ['--import', TS_LOADER, '--input-type=module', '-e', script, claimDir, instances, tag]))
  const [p, q] = (await Promise.all(procs)).map((r) => JSON.parse(r.stdout) as number[])
  const all = [...p!, ...q!]
  t.equal(all.length, 40)
  t.equal(new Set(all).size, 40, 'no uid handed out twice')
  t.same(
    [...all].sort((x, y) => x - y),
    Array.from({ length: 40 }, (_, i) => range.first + i),
    'the whole range, stale claims included',
  )
  for (const uid of all) t.match(readFileSync(join(claimDir, String(uid)), 'utf8'), /\/(p|q)-\d+$/)
  t.same(
    readdirSync(claimDir).filter((n) => n.startsWith('.')),
    [],
    'no lock or temporary file left',
  )
})

t.test("sweep: this lab's claims not kept, and claims of gone owners; other labs' live claims stay", async (t) => {
  const { claimDir, instances, owner } = lab()
  const other = lab()
  const o = { claimDir, range: { first: 520000, last: 520009 } }
  const kept = owner('kept')
  const leaked = owner('leaked')
  const k = allocateUid(kept, o)
  const l = allocateUid(leaked, o)
  const theirs = allocateUid(other.owner('theirs'), o)
  const gone = other.owner('gone')
  const g = allocateUid(gone, o)
  rmSync(gone, { recursive: true })
  // A taker that died holding its lock (a pid that is not running).
  const dead = spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], { encoding: 'utf8' }).stdout.trim()
  writeFileSync(join(claimDir, `.${k.uid}.lock`), dead)
  t.same(uidOf(kept, o), k, 'a dead lock does not hide the claim')
  const removed = sweepUids(instances, [kept], o).sort()
  t.same(removed, [l.uid, g.uid].sort(), 'the leaked and the gone-owner claims')
  t.same(uidOf(kept, o), k, 'kept')
  t.same(uidOf(other.owner('theirs'), o), theirs, "another lab's live instance keeps its uid")
  t.notOk(existsSync(join(claimDir, `.${k.uid}.lock`)), "the dead taker's lock is removed")
  t.same(sweepUids(instances, [kept], o), [], 'idempotent')
})

t.test('the range from TROVE_UID_RANGE', async (t) => {
  t.same(uidRangeFrom(undefined), { first: 420000, last: 429999 })
  t.same(uidRangeFrom('600000-600099'), { first: 600000, last: 600099 })
  for (const bad of ['1-2000', '600099-600000', 'x', '600000-4294967295']) t.throws(() => uidRangeFrom(bad), /^uid range ".*" must be FIRST-LAST with 1000 <= FIRST <= LAST < 4294967295$/)
})

t.test("the sandbox's /etc/passwd and /etc/group, read by the real tools", async (t) => {
  const ids = { uid: 420123, gid: 420123 }
  const { passwd, group } = passwdFor(ids)
  t.throws(() => passwdFor({ uid: 0, gid: 0 }), /not an instance's/)
  t.throws(() => passwdFor({ uid: 65534, gid: 65534 }), /not an instance's/)
  const canUnshare = process.getuid?.() === 0 && spawnSync('unshare', ['--mount', 'true']).status === 0
  if (!canUnshare) {
    t.skip('needs root and unshare --mount (util-linux) to bind the files over /etc in a private namespace', () => {})
    return
  }
  const { root } = lab()
  writeFileSync(join(root, 'passwd'), passwd, { mode: 0o644 })
  writeFileSync(join(root, 'group'), group, { mode: 0o644 })
  // Only inside the new mount namespace (private propagation, unshare's default): the host's /etc is untouched.
  const script = 'mount --bind "$1/passwd" /etc/passwd && mount --bind "$1/group" /etc/group && id trove && getent passwd trove && setpriv --reuid=trove --regid=trove --init-groups -- id -u'
  const r = spawnSync('unshare', ['--mount', '--propagation', 'private', '--', 'sh', '-c', script, 'sh', root], { encoding: 'utf8' })
  t.equal(r.status, 0, r.stderr)
  const [idLine, entry, dropped] = r.stdout.trim().split('\n')
  t.equal(idLine, 'uid=420123(trove) gid=420123(trove) groups=420123(trove)')
  t.equal(entry, 'trove:x:420123:420123:trove instance:/var/lib/trove-instance:/usr/sbin/nologin')
  t.equal(dropped, '420123', 'setpriv drops to the name (as the agent starts engines) with only the files given')
  t.notOk(readFileSync('/etc/passwd', 'utf8').includes('420123'), "the host's /etc/passwd is untouched")
})
