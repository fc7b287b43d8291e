// The object store's `archive` container (src/server/object-store/archive.ts) over real https on loopback
// with a real lab's database and credentials, and the agent's shipper (src/agent/archive-ship.ts) and
// fetch (src/agent/archive-fetch.ts) against it: sealed segments written once with the server's own
// sha256 and seq, the open segment appended to and then sealed without a second upload, the volume
// emptied of stored segments, a planted link not shipped; reads only for a running restore to a time.
import t, { type Test } from 'tap'
import { createHash, randomUUID } from 'node:crypto'
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, symlinkSync, writeFileSync } from 'node:fs'
import { request } from 'node:https'
import { join } from 'node:path'
import { GB } from '../../src/common/units.js'
import { fetchArchive } from '../../src/agent/archive-fetch.js'
import { ArchiveShipper, walLength } from '../../src/agent/archive-ship.js'
import { ObjectStore, setObjectStore } from '../../src/agent/object-store.js'
import { archiveDirOf, segmentSeqOf, type ArchiveSegment, type RestoreSpec } from '../../src/protocol/index.js'
import { ensureBrokerTls } from '../../src/server/broker/tls.js'
import { Tasks } from '../../src/server/db/tasks.js'
import { startObjectStore } from '../../src/server/object-store/endpoint.js'
import { instanceRow } from '../helpers/api.js'
import { startLab, tempDir } from '../helpers/lab.js'
import { until } from '../helpers/scripted-agent.js'

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')
const SEG = 16 << 20

/** A WAL segment's first `pages` pages written (a non-zero page header), the rest zeros as pg_receivewal leaves them. */
function walBytes(pages: number, seed: number): Buffer {
  const b = Buffer.alloc(SEG)
  for (let p = 0; p < pages; p++) b.fill((seed + p) % 250 || 1, p * 8192, p * 8192 + 8000)
  return b
}

t.test('segmentSeqOf: WAL across log ids, binlogs by suffix', async (t) => {
  t.equal(segmentSeqOf('000000010000000000000003'), 3)
  t.equal(segmentSeqOf('0000000200000001000000FF.partial'), 256 + 255, 'a log id holds 256 segments of 16 MiB; the timeline does not count')
  t.equal(segmentSeqOf('mysql-bin.000012'), 12)
  t.equal(segmentSeqOf('evil'), undefined)
})

/** A lab's object store over https on loopback, two instances' rows and credentials, and an agent's client for each. */
async function storeLab(t: Test) {
  const lab = await startLab(t, { spawnAgents: false, reconcileMs: 0 })
  const L = lab.server.lab
  const tls = ensureBrokerTls(join(lab.dataDir, 'tls'), ['127.0.0.1'])
  const server = await startObjectStore({ lab: L, host: '127.0.0.1', tls, log: () => undefined })
  t.teardown(() => server.close())
  const me = instanceRow(L, 'postgresql', randomUUID()).id
  const other = instanceRow(L, 'postgresql', randomUUID()).id
  const cred = L.credentials.issue(me)
  const otherCred = L.credentials.issue(other)
  const bootstrapFile = join(lab.dataDir, 'agent-test.json')
  writeFileSync(bootstrapFile, JSON.stringify({ objectStore: { url: `https://127.0.0.1:${server.port}` } }), { mode: 0o600 })
  const client = (c: { username: string; password: string }) =>
    new ObjectStore({ bootstrapFile, username: c.username, password: c.password, ca: tls.ca, backupDir: L.compute.backupsDir, storageDir: L.compute.storageDir })
  return { L, tls, server, me, other, cred, otherCred, client, bootstrapFile }
}

t.test('the archive container, the shipper and the fetch', async (t) => {
  const { L, tls, server, me, other, cred, otherCred, client, bootstrapFile } = await storeLab(t)
  const mine = client(cred)
  t.teardown(() => mine.close())
  const call = (method: string, path: string, o: { body?: Buffer; headers?: Record<string, string>; c?: typeof cred } = {}) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const c = o.c ?? cred
      const headers = { Authorization: `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`, ...o.headers }
      const req = request({ method, host: '127.0.0.1', port: server.port, path: `/v1/trove/archive/${path}`, ca: tls.ca, headers, agent: false }, (res) => {
        let body = ''
        res.on('data', (b: Buffer) => (body += b.toString()))
        res.on('end', () => resolve({ status: res.statusCode!, body }))
      })
      req.on('error', reject)
      req.end(o.body)
    })

  // The agent's side: the archiver's directory in its volume, shipped.
  const local = join(tempDir(t, 'arch'), 'archive')
  mkdirSync(local)
  const s1 = walBytes(2048, 1)
  writeFileSync(join(local, '000000010000000000000001'), s1)
  writeFileSync(
    join(local, '000000010000000000000001.seg.json'),
    JSON.stringify({ name: '000000010000000000000001', seq: 1, sha256: sha(s1), bytes: SEG, first_time: '2026-12-05T10:00:00.000001Z', last_time: '2026-12-05T10:00:05Z' }),
  )
  writeFileSync(join(local, '000000010000000000000002.partial'), walBytes(3, 2))
  symlinkSync(bootstrapFile, join(local, '000000FF.history'))
  let claim = '2026-12-05T10:00:06Z'
  const logs: string[] = []
  const shipper = new ArchiveShipper(
    mine,
    local,
    me,
    () => claim,
    (m) => logs.push(m),
  )
  await shipper.pass()
  const store = archiveDirOf(L.compute.backupsDir, me)
  t.same(readdirSync(store).sort(), ['000000010000000000000001', '000000010000000000000001.seg.json', '000000010000000000000002.partial'], 'the sealed segment, its sidecar, the open one; no link')
  const side = JSON.parse(readFileSync(join(store, '000000010000000000000001.seg.json'), 'utf8')) as ArchiveSegment
  t.match(
    side,
    { seq: 1, sha256: sha(s1), bytes: SEG, first_time: '2026-12-05T10:00:00.000001Z', last_time: '2026-12-05T10:00:05Z' },
    "the server's sidecar: its sha256, size and seq, the agent's times",
  )
  t.ok(lstatSync(join(store, '000000010000000000000001.seg.json')).uid === 0 || process.getuid?.() !== 0, 'written by the server')
  t.equal(readFileSync(join(store, '000000010000000000000002.partial')).length, 3 * 8192, 'the open segment as far as it is written')
  t.equal(shipper.latest(), claim, 'latest: the claim as the pass began')

  // The open segment's last page fills up (its length in pages does not change): sent again.
  const open2 = join(local, '000000010000000000000002.partial')
  const grow = readFileSync(open2)
  grow.fill(7, 3 * 8192, 3 * 8192 + 100)
  writeFileSync(open2, grow)
  await shipper.pass()
  grow.fill(9, 3 * 8192 + 100, 3 * 8192 + 4000)
  writeFileSync(open2, grow)
  await shipper.pass()
  t.same(readFileSync(join(store, '000000010000000000000002.partial')), grow.subarray(0, 4 * 8192), 'a page that filled up after it was sent is sent again')

  // The open segment grows: appended; then complete and sealed: only the seal crosses.
  const s2 = walBytes(2048, 2)
  writeFileSync(join(local, '000000010000000000000002.partial'), Buffer.concat([s2.subarray(0, 700 * 8192), Buffer.alloc(SEG - 700 * 8192)]))
  claim = '2026-12-05T10:00:07Z'
  await shipper.pass()
  t.same(readFileSync(join(store, '000000010000000000000002.partial')), s2.subarray(0, 700 * 8192), 'appended: the stored open segment is the new prefix')
  renameSync(join(local, '000000010000000000000002.partial'), join(local, '000000010000000000000002'))
  writeFileSync(join(local, '000000010000000000000002'), s2)
  await shipper.pass()
  t.equal(readFileSync(join(store, '000000010000000000000002.partial')).length, SEG, 'a complete segment not sealed yet: shipped as the open one')
  writeFileSync(join(local, '000000010000000000000002.seg.json'), JSON.stringify({ name: '000000010000000000000002', seq: 2, sha256: sha(s2), bytes: SEG, first_time: null, last_time: null }))
  writeFileSync(join(local, '000000010000000000000003.partial'), walBytes(1, 3))
  await shipper.pass()
  t.notOk(existsSync(join(store, '000000010000000000000002.partial')), 'sealed from the stored open segment: renamed')
  t.equal(sha(readFileSync(join(store, '000000010000000000000002'))), sha(s2), 'to the whole segment')
  t.match(JSON.parse(readFileSync(join(store, '000000010000000000000002.seg.json'), 'utf8')), { seq: 2, sha256: sha(s2) })
  t.same(
    readdirSync(local).sort(),
    ['000000010000000000000002', '000000010000000000000002.seg.json', '000000010000000000000003.partial', '000000FF.history'],
    'the volume keeps the newest sealed segment only',
  )
  t.notOk(shipper.error(), `no failure (${logs.join('; ')})`)

  // Refusals.
  t.equal((await call('PUT', `${me}/000000010000000000000001`, { body: s1.subarray(0, 10), headers: { 'x-archive-last-time': '' } })).status, 409, 'a sealed segment again: 409')
  t.equal((await call('PUT', `${me}/000000010000000000000001.partial`, { body: Buffer.from('x') })).status, 409, 'its open object again: 409')
  t.equal((await call('PUT', `${me}/000000010000000000000001.seg.json`, { body: Buffer.from('{}') })).status, 403, 'a sidecar: 403')
  t.equal((await call('PUT', `${me}/notes.txt`, { body: Buffer.from('x') })).status, 403, 'a name outside the pattern: 403')
  t.equal((await call('PUT', `${other}/000000010000000000000009`, { body: Buffer.from('x') })).status, 403, "another instance's archive: 403")
  t.equal((await call('GET', `${me}/000000010000000000000001`)).status, 403, 'its own archive is not read back')
  t.equal((await call('DELETE', `${me}/000000010000000000000001`)).status, 403, 'nor deleted')
  t.equal((await call('PUT', `${me}/000000010000000000000009`, { body: Buffer.alloc(10), headers: { 'x-archive-last-time': '' } })).status, 422, 'a sealed WAL segment that is not whole: 422')
  t.notOk(existsSync(join(store, '000000010000000000000009')), 'and no file')
  t.equal((await call('PUT', `${me}/000000010000000000000009.partial`, { headers: { 'Content-Length': String(SEG + 1) } })).status, 413, "over a segment's size: 413")
  t.equal((await call('PUT', `${me}/000000010000000000000009.partial`, { body: Buffer.from('x'), headers: { 'x-archive-offset': '5' } })).status, 409, 'an append with nothing to append to: 409')
  t.equal((await call('PUT', `${me}/000000010000000000000001`, { headers: { 'x-archive-last-time': 'yesterday' } })).status, 400, 'a claimed time that is not one: 400')

  // The archive's cap (archive-cap.ts): its volume times TROVE_ARCHIVE_CAP_FACTOR, set here to 1,000 bytes
  // (the other instance's archive, empty so far: this one's is listed below).
  process.env.TROVE_ARCHIVE_CAP_FACTOR = String(1000 / GB)
  t.teardown(() => delete process.env.TROVE_ARCHIVE_CAP_FACTOR)
  const theirStore = archiveDirOf(L.compute.backupsDir, other)
  const put = (name: string, bytes: number, headers: Record<string, string> = {}) => call('PUT', `${other}/${name}`, { body: Buffer.alloc(bytes), headers, c: otherCred })
  const over = await put('00000001000000000000000A.partial', 1001)
  t.equal(over.status, 507, 'an object past the cap: 507')
  t.match(over.body, new RegExp(`the archive of instance ${other} holds 0 bytes, at its cap of 1000 \\(`), 'saying what it holds and its cap')
  t.notOk(existsSync(join(theirStore, '00000001000000000000000A.partial')), 'and nothing stored')
  t.equal((await put('00000001000000000000000A.partial', 600)).status, 201, 'within the cap: stored')
  t.equal((await put('00000001000000000000000A.partial', 500, { 'x-archive-offset': '600' })).status, 507, 'an append past it: 507')
  t.equal((await put('00000001000000000000000A.partial', 900)).status, 201, 'its open object replaced by a bigger one within the cap (counted once)')
  t.equal((await put('00000001000000000000000B.partial', 200)).status, 507, 'another object once it is full')
  delete process.env.TROVE_ARCHIVE_CAP_FACTOR
  t.equal((await put('00000001000000000000000B.partial', 200)).status, 201, 'the default cap (20 x the volume) has room')

  // Reads: only a running restore to a time from this archive, from its base's segment on.
  t.equal((await call('GET', me, { c: otherCred })).status, 403, 'no restore running: 403')
  const pitr = { archiveDir: store, target: 'latest' as const, start: { seq: 2, position: '1/2000028', time: '2026-12-05T10:00:06Z' } }
  const restore: RestoreSpec = { backupId: 'b', chain: [], pitr }
  const now = new Date().toISOString()
  new Tasks(L.db).insert({
    id: randomUUID(),
    instance_id: other,
    kind: 'create_instance',
    state: 'running',
    step: 'prepare',
    payload: JSON.stringify({ restore }),
    error: null,
    created: now,
    updated: now,
  })
  const list = await call('GET', me, { c: otherCred })
  t.same(JSON.parse(list.body).names, ['000000010000000000000002', '000000010000000000000002.seg.json', '000000010000000000000003.partial'], 'the list: from the base segment on')
  t.equal((await call('GET', `${me}/000000010000000000000001`, { c: otherCred })).status, 403, 'a segment before the base: 403')
  t.equal((await call('PUT', `${me}/000000010000000000000004`, { body: Buffer.from('x'), c: otherCred })).status, 403, 'no write into the source')

  const theirs = client(otherCred)
  t.teardown(() => theirs.close())
  setObjectStore(theirs)
  t.teardown(() => setObjectStore(undefined))
  const tmp = tempDir(t, 'fetch')
  const spec: RestoreSpec = JSON.parse(JSON.stringify(restore))
  await fetchArchive(spec, tmp)
  t.equal(spec.pitr!.archiveDir, join(tmp, 'pitr-archive'), 'the spec now names the fetched copy')
  t.same(readdirSync(spec.pitr!.archiveDir).sort(), ['000000010000000000000002', '000000010000000000000002.seg.json', '000000010000000000000003.partial'], 'what was granted')
  const partial = readFileSync(join(spec.pitr!.archiveDir, '000000010000000000000003.partial'))
  t.equal(partial.length, SEG, 'the open WAL segment filled up to its size')
  t.same(partial.subarray(0, 8192), walBytes(1, 3).subarray(0, 8192), 'with its bytes first')

  // A failover: timeline 1 ended in segment 3 (one more page written first) and the archiver streams
  // timeline 2. Where timeline 1 ended goes from the volume once the store holds it whole; the store keeps it.
  const ended = walBytes(2, 3)
  writeFileSync(join(local, '000000010000000000000003.partial'), ended)
  writeFileSync(join(local, '00000002.history'), '1\t0/3002000\tno recovery target specified\n')
  writeFileSync(join(local, '000000020000000000000003.partial'), walBytes(3, 4))
  await shipper.pass()
  t.same(
    readdirSync(local).sort(),
    ['000000010000000000000002', '000000010000000000000002.seg.json', '00000002.history', '000000020000000000000003.partial', '000000FF.history'],
    "the ended timeline's segment gone from the volume, the new timeline's open one kept",
  )
  t.same(readFileSync(join(store, '000000010000000000000003.partial')), ended.subarray(0, 2 * 8192), 'the store holds where timeline 1 ended, whole')
  t.equal(readFileSync(join(store, '000000020000000000000003.partial')).length, 3 * 8192, "and timeline 2's open segment")
  t.ok(existsSync(join(store, '00000002.history')), 'and its history')
  await shipper.pass()
  t.ok(existsSync(join(local, '000000020000000000000003.partial')), 'the newest timeline is never dropped')
  t.notOk(shipper.error(), `no failure (${logs.join('; ')})`)
})

t.test('walLength: the pages before the first zero page header', async (t) => {
  const dir = tempDir(t, 'wal')
  const { open } = await import('node:fs/promises')
  for (const pages of [0, 1, 777, 2048]) {
    writeFileSync(join(dir, 'w'), walBytes(pages, 5))
    const fh = await open(join(dir, 'w'), 'r')
    t.equal(await walLength(fh), pages * 8192, `${pages} pages`)
    await fh.close()
  }
})

t.test('the shipper at the archive cap (507): the segment kept and retried later, the gap reported until it is shipped', async (t) => {
  const { L, me, cred, client } = await storeLab(t)
  const mine = client(cred)
  t.teardown(() => mine.close())
  // Every write the shipper tries, with its answer: the store is real, this only watches.
  const tries: Array<{ name: string; at: number; status: number }> = []
  const put = mine.put.bind(mine)
  mine.put = (async (...a: Parameters<typeof put>) => {
    const at = Date.now()
    try {
      const r = await put(...a)
      tries.push({ name: a[1], at, status: 201 })
      return r
    } catch (e) {
      tries.push({ name: a[1], at, status: (e as { status?: number }).status ?? 0 })
      throw e
    }
  }) as typeof put
  const local = join(tempDir(t, 'arch507'), 'archive')
  mkdirSync(local)
  const seal = (name: string, b: Buffer, last: string) => {
    writeFileSync(join(local, name), b)
    writeFileSync(join(local, `${name}.seg.json`), JSON.stringify({ name, seq: segmentSeqOf(name), sha256: sha(b), bytes: b.length, first_time: null, last_time: last }))
  }
  const store = archiveDirOf(L.compute.backupsDir, me)
  // The cap: 1,000 bytes (1 GB volume x the factor).
  process.env.TROVE_ARCHIVE_CAP_FACTOR = String(1000 / GB)
  t.teardown(() => delete process.env.TROVE_ARCHIVE_CAP_FACTOR)
  const b1 = Buffer.alloc(600, 1)
  const b2 = Buffer.alloc(500, 2)
  seal('mysql-bin.000001', b1, '2026-12-05T10:00:01Z')
  writeFileSync(join(local, 'mysql-bin.000002'), b2.subarray(0, 100))
  let claim = '2026-12-05T10:00:02Z'
  const logs: string[] = []
  const fullRetryMs = 1500
  const shipper = new ArchiveShipper(
    mine,
    local,
    me,
    () => claim,
    (m) => logs.push(m),
    { shipMs: 50, fullRetryMs },
  )
  t.teardown(() => shipper.stop())
  await shipper.pass()
  t.equal(shipper.latest(), '2026-12-05T10:00:02Z', '700 bytes under the cap: shipped')

  // The open binlog fills to 500 bytes and is sealed: over the cap (with the sidecar the server wrote). The store refuses (507).
  seal('mysql-bin.000002', b2, '2026-12-05T10:00:03Z')
  writeFileSync(join(local, 'mysql-bin.000003'), Buffer.alloc(50, 3))
  claim = '2026-12-05T10:00:04Z'
  shipper.start()
  const refused = () => tries.filter((x) => x.name === `${me}/mysql-bin.000002` && x.status === 507)
  await until(() => refused().length >= 2, 10_000, 'the segment refused twice').catch((e) => {
    t.comment(JSON.stringify(tries), logs)
    throw e
  })
  t.match(shipper.error(), new RegExp(`507 the archive of instance ${me} holds \\d+ bytes, at its cap of 1000`), 'the error: the store full, in its words')
  t.equal(logs.filter((l) => l.includes('507')).length, 1, 'logged once, not every try')
  t.ok(refused()[1]!.at - refused()[0]!.at >= fullRetryMs, `retried after the wait for a full store (${refused()[1]!.at - refused()[0]!.at} ms), not every pass`)
  t.equal(shipper.latest(), '2026-12-05T10:00:02Z', 'latest stays where the store is whole: the gap is not claimed as shipped')
  t.same(readFileSync(join(local, 'mysql-bin.000002')), b2, 'the refused segment is kept in the volume')
  t.ok(existsSync(join(local, 'mysql-bin.000001')), 'and so is the one before it (only a shipped newer seal removes it)')
  t.equal(readFileSync(join(store, 'mysql-bin.000002')).length, 100, 'the store still has what it took before')

  // Retention makes room (here: the cap back to its default): the next try ships it, nothing lost.
  delete process.env.TROVE_ARCHIVE_CAP_FACTOR
  await until(() => shipper.latest() === '2026-12-05T10:00:04Z', 10_000, 'shipped after the store had room')
  t.notOk(shipper.error(), 'no error once shipped')
  t.same(readFileSync(join(store, 'mysql-bin.000002')), b2, 'the refused segment is stored whole')
  t.match(JSON.parse(readFileSync(join(store, 'mysql-bin.000002.seg.json'), 'utf8')), { seq: 2, sha256: sha(b2), bytes: 500 }, 'sealed, by its bytes')
  t.same(readFileSync(join(store, 'mysql-bin.000003')), Buffer.alloc(50, 3), 'the open one after it too')
  t.notOk(existsSync(join(local, 'mysql-bin.000001')), 'the volume lets go of the older segment only now')
})
