// The batched replay's plan (src/agent/datastores/mariadb/binlog-replay.ts) on binlog files built here
// event by event (headers, GTID fields, CRC32s as MariaDB writes them; the bodies of row events are
// opaque to the plan): which transactions go into batches, where mariadb-binlog takes a range, the
// GTID each batch commits under, and the files the plan must refuse. The real engine replays plans in
// test/e2e/pitr-mariadb.ts (a mixed workload, row for row).
import t from 'tap'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { crc32 } from 'node:zlib'
import { planReplay, type ReplayFile, type ReplayStep, scanUnits } from '../../../src/agent/datastores/mariadb/binlog-replay.js'
import { writeOrFail } from '../../../src/agent/datastores/mariadb/pitr.js'

const dir = mkdtempSync(join(tmpdir(), 'binlog-replay-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))

const GTID_TRANSACTIONAL = 4
const GTID_DDL = 32
const GTID_STANDALONE = 1

/** A binlog file being written: events appended with their next position and checksum. */
class File {
  readonly parts: Buffer[] = [Buffer.from([0xfe, 0x62, 0x69, 0x6e])]
  pos = 4
  /** The stamp of the next events (epoch seconds). */
  time = 1_796_000_000
  constructor(
    readonly crc = true,
    readonly serverId = 7,
  ) {
    // The format description: version 4, a server version, a timestamp, header length 19, a few
    // post-header lengths, then the checksum algorithm (1: CRC32, 0: none) and 4 checksum bytes.
    const body = Buffer.alloc(2 + 50 + 4 + 1 + 8)
    body.writeUInt16LE(4, 0)
    body.write('10.11.19-MariaDB', 2)
    body[56] = 19
    this.event(15, Buffer.concat([body, Buffer.from([crc ? 1 : 0])]), { fde: true })
  }

  /** Appends an event; returns where it starts. */
  event(type: number, body: Buffer, o: { serverId?: number; fde?: boolean } = {}): number {
    const size = 19 + body.length + (this.crc || o.fde ? 4 : 0)
    const head = Buffer.alloc(19)
    head.writeUInt32LE(this.time, 0)
    head[4] = type
    head.writeUInt32LE(o.serverId ?? this.serverId, 5)
    head.writeUInt32LE(size, 9)
    head.writeUInt32LE(this.pos + size, 13)
    const raw = Buffer.concat([head, body])
    const sum = Buffer.alloc(4)
    if (this.crc) sum.writeUInt32LE(crc32(raw))
    const at = this.pos
    this.parts.push(this.crc || o.fde ? Buffer.concat([raw, sum]) : raw)
    this.pos += size
    return at
  }

  gtid(seq: number, flags = GTID_TRANSACTIONAL, domain = 0, serverId?: number): number {
    const body = Buffer.alloc(19)
    body.writeBigUInt64LE(BigInt(seq), 0)
    body.writeUInt32LE(domain, 8)
    body[12] = flags
    return this.event(162, body, { serverId })
  }

  /** A row transaction: GTID, annotation, table map, write rows, Xid. Returns its [start, end] and its row events. */
  rowTx(seq: number, o: { domain?: number; serverId?: number; rowBytes?: number } = {}): { start: number; end: number; rows: Buffer } {
    const start = this.gtid(seq, GTID_TRANSACTIONAL, o.domain ?? 0, o.serverId)
    this.event(160, Buffer.from('INSERT INTO d.t VALUES (1)'))
    const before = this.parts.length
    this.event(19, Buffer.from(`table map ${seq}`))
    this.event(23, Buffer.alloc(o.rowBytes ?? 16, seq & 0xff))
    const rows = Buffer.concat(this.parts.slice(before))
    this.event(16, Buffer.alloc(8))
    return { start, end: this.pos, rows }
  }

  /** A Query event: thread id, exec time, db length, error code, status variables' length (2 bytes of them), the db, NUL, the text. */
  query(text: string): number {
    const post = Buffer.alloc(13)
    post[8] = 1
    post.writeUInt16LE(2, 11)
    return this.event(2, Buffer.concat([post, Buffer.from([0, 0]), Buffer.from('d\0'), Buffer.from(text)]))
  }

  ddl(seq: number): { start: number; end: number } {
    const start = this.gtid(seq, GTID_STANDALONE | GTID_DDL)
    this.query('CREATE TABLE d.u (id INT)')
    return { start, end: this.pos }
  }

  write(name: string): string {
    const path = join(dir, name)
    writeFileSync(path, Buffer.concat(this.parts))
    return path
  }
}

async function all(files: ReplayFile[], batch?: { units: number; bytes: number }) {
  const { steps, counts } = await planReplay(files, batch)
  const out: ReplayStep[] = []
  for await (const s of steps) out.push(s)
  return { steps: out, counts }
}

const binlogOf = (sql: string): string[] => [...sql.matchAll(/BINLOG '([^']*)'/g)].map((m) => m[1]!)

t.test('row transactions in batches, a DDL through mariadb-binlog, in binlog order', async (t) => {
  const f = new File()
  const from = f.pos
  const a = [f.rowTx(1)]
  f.event(161, Buffer.from('mysql-bin.000001')) // a binlog checkpoint between two transactions of a batch
  a.push(f.rowTx(2), f.rowTx(3))
  const ddl = f.ddl(4)
  const b = [f.rowTx(5), f.rowTx(6)]
  const path = f.write('mixed')
  const { steps, counts } = await all([{ path, from }], { units: 2, bytes: 1 << 20 })
  t.same(counts, { batches: 3, transactions: 5, ranges: 1 }, 'three batches of five transactions, one range')
  t.same(
    steps.map((s) => s.kind),
    ['sql', 'sql', 'tool', 'sql'],
    'batch, batch, the DDL, batch',
  )
  t.same(steps[2], { kind: 'tool', path, start: ddl.start, stop: ddl.end }, "the DDL's exact byte range")
  const [first, second, , third] = steps as Array<Extract<ReplayStep, { kind: 'sql' }>>
  t.match(first!.text, /^SET @@SESSION\.PSEUDO_SLAVE_MODE=1;[\s\S]*BINLOG '[^']+';\n/, "the session is set up and given the file's format description first")
  t.match(first!.text, /SET @@session\.gtid_domain_id=0, @@session\.server_id=7;\nSET @@session\.gtid_seq_no=2;\nSTART TRANSACTION;\n/, "the first batch commits under its last transaction's GTID")
  t.ok(first!.text.endsWith('COMMIT;\n'), 'and commits once')
  t.same(
    binlogOf(first!.text).slice(1),
    [a[0]!.rows.toString('base64'), a[1]!.rows.toString('base64')],
    'each transaction is one BINLOG statement of its own table map and row events (no GTID, annotation or Xid)',
  )
  t.notMatch(second!.text, /PSEUDO_SLAVE_MODE/, 'the next batch needs no set-up')
  t.match(second!.text, /gtid_seq_no=3;/, 'the second batch: transaction 3')
  t.match(third!.text, /^SET @@SESSION\.PSEUDO_SLAVE_MODE=1;/, "after the tool's range (whose output resets the session) it is set up again")
  t.match(third!.text, /gtid_seq_no=6;/, 'the last batch: transactions 5 and 6')
  t.same(binlogOf(third!.text).slice(1), [b[0]!.rows.toString('base64'), b[1]!.rows.toString('base64')])
})

t.test('a batch ends where the domain or the server changes, at its byte cap, and at the stop position', async (t) => {
  const f = new File()
  const from = f.pos
  f.rowTx(1)
  f.rowTx(1, { domain: 1 })
  f.rowTx(2, { domain: 1, serverId: 9 })
  f.rowTx(3, { domain: 1, serverId: 9, rowBytes: 5000 })
  f.rowTx(4, { domain: 1, serverId: 9 })
  const stop = f.rowTx(5, { domain: 1, serverId: 9 }).end
  f.rowTx(6, { domain: 1, serverId: 9 })
  const path = f.write('domains')
  const { steps, counts } = await all([{ path, from, to: stop }], { units: 100, bytes: 4096 })
  const sets = steps.map((s) => (s.kind === 'sql' ? /gtid_domain_id=(\d+), @@session\.server_id=(\d+);\nSET @@session\.gtid_seq_no=(\d+)/.exec(s.text)!.slice(1).join('-') : s.kind))
  t.same(sets, ['0-7-1', '1-7-1', '1-9-2', '1-9-3', '1-9-5'], 'domain 0, domain 1, server 9, the large transaction alone, then 4 and 5; 6 is after the stop')
  t.equal(counts.transactions, 6)
})

t.test('what a batch must not take goes to mariadb-binlog whole, consecutive ranges as one', async (t) => {
  const f = new File()
  const from = f.pos
  f.rowTx(1)
  // A non-transactional table's statement: a standalone GTID whose COMMIT is a Query event.
  const myisam = f.gtid(2, GTID_STANDALONE)
  f.event(19, Buffer.from('map'))
  f.event(23, Buffer.alloc(8))
  f.query('COMMIT')
  // A transaction with a Query event inside (statement format): not batchable either; it follows at once.
  f.gtid(3)
  f.query('INSERT INTO d.t VALUES (2)')
  f.event(16, Buffer.alloc(8))
  const mixedEnd = f.pos
  f.rowTx(4)
  // A transaction cut short where the replay stops (no Xid): the tool's to judge.
  const cut = f.gtid(5)
  f.event(19, Buffer.from('map'))
  const end = f.pos
  const path = f.write('others')
  const { steps } = await all([{ path, from, to: end }])
  t.same(
    steps.map((s) => (s.kind === 'tool' ? [s.start, s.stop] : 'sql')),
    ['sql', [myisam, mixedEnd], 'sql', [cut, end]],
    'one range for the two in a row, one for the cut transaction',
  )
})

t.test('several files: each gets its own format description; events before the first GTID are skipped when inert', async (t) => {
  const one = new File()
  const from = one.pos
  one.rowTx(1)
  one.event(4, Buffer.from('mysql-bin.000002')) // rotate
  const p1 = one.write('mysql-bin.000001')
  const two = new File(false)
  two.event(163, Buffer.alloc(4)) // Gtid_list
  two.event(161, Buffer.from('mysql-bin.000001')) // Binlog_checkpoint
  const tx = two.rowTx(2)
  const p2 = two.write('mysql-bin.000002')
  const { steps, counts } = await all([
    { path: p1, from },
    { path: p2, from: 4 },
  ])
  t.same(counts, { batches: 2, transactions: 2, ranges: 0 }, 'no range: rotate, GTID list and checkpoint apply nothing')
  // The open file before its first whole transaction: the scan's stop is 0 there ('latest' right after a rotation).
  const none = await all([
    { path: p1, from },
    { path: p2, from: 4, to: 0 },
  ])
  t.same(none.counts, { batches: 1, transactions: 1, ranges: 0 }, 'a last file stopped at 0 gives nothing')
  const texts = steps.map((s) => (s.kind === 'sql' ? s.text : ''))
  t.ok(
    texts.every((x) => x.startsWith('SET @@SESSION.PSEUDO_SLAVE_MODE=1;')),
    'each file starts with its set-up',
  )
  t.equal(binlogOf(texts[1]!)[1], tx.rows.toString('base64'), 'a file without checksums: its events as they are')
})

t.test('a file the plan cannot trust is refused before anything is sent', async (t) => {
  const f = new File()
  const from = f.pos
  const tx = f.rowTx(1)
  const good = Buffer.concat(f.parts)
  const bad = Buffer.from(good)
  bad[tx.end - 10]! ^= 0xff
  writeFileSync(join(dir, 'crc'), bad)
  await t.rejects(planReplay([{ path: join(dir, 'crc'), from }]), { name: 'UnplannableBinlog', message: /fails its CRC32/ }, 'a CRC32 that does not match')
  writeFileSync(join(dir, 'short'), good.subarray(0, good.length - 3))
  await t.rejects(planReplay([{ path: join(dir, 'short'), from }]), { message: /are not a whole event/ }, 'a file cut inside an event')
  const moved = Buffer.from(good)
  moved.writeUInt32LE(tx.end + 1, tx.end - 31 + 13) // the Xid's next position
  writeFileSync(join(dir, 'next'), moved)
  await t.rejects(planReplay([{ path: join(dir, 'next'), from }]), { name: 'UnplannableBinlog', message: /says the next is at/ }, 'an event whose next position is not where it ends')
  writeFileSync(join(dir, 'text'), 'not a binlog at all, just text')
  await t.rejects(planReplay([{ path: join(dir, 'text'), from: 4 }]), { message: 'not a binlog file' })
})

t.test('a file that changed between the plan and the replay fails the replay', async (t) => {
  const f = new File()
  const from = f.pos
  f.rowTx(1)
  f.rowTx(2)
  const path = f.write('changing')
  const { steps } = await planReplay([{ path, from }])
  const other = new File()
  other.ddl(1)
  other.rowTx(2)
  other.write('changing')
  await t.rejects(
    (async () => {
      for await (const _ of steps) {
        /* read them all */
      }
    })(),
    { name: 'UnplannableBinlog', message: /changed since the replay was planned/ },
  )
})

t.test('writeOrFail: waits for a full stream, fails on a gone one', async (t) => {
  const s = new PassThrough({ highWaterMark: 4 })
  const full = writeOrFail(s, 'more than four bytes', 'gone')
  let settled = false
  void full.then(() => (settled = true))
  await new Promise((r) => setImmediate(r))
  t.notOk(settled, 'a full stream: it waits')
  s.read()
  await full
  t.pass('drained: it resolves')
  const waiting = writeOrFail(s, 'x'.repeat(100), 'the reader is gone')
  s.destroy()
  await t.rejects(waiting, { message: 'the reader is gone' }, 'destroyed while waiting: it fails')
  // The case that hung a replay: the stream was destroyed before the write ('close' already emitted).
  await t.rejects(writeOrFail(s, 'late', 'the reader is gone'), { message: 'the reader is gone' }, 'destroyed before: it fails at once')
})

t.test('scanUnits: the units BinlogParser finds in the text, from the event headers', async (t) => {
  const f = new File()
  const t0 = f.time
  const from = f.pos
  const a = f.rowTx(1)
  f.time = t0 + 1
  const ddl = f.ddl(2)
  // A non-transactional statement: standalone GTID, row events, a Query COMMIT.
  const myisamStart = f.gtid(3, GTID_STANDALONE)
  f.event(19, Buffer.from('map'))
  f.event(23, Buffer.alloc(8))
  f.time = t0 + 2
  f.query('COMMIT')
  const myisamEnd = f.pos
  f.time = t0 + 3
  const b = f.rowTx(4)
  const path = f.write('scan')
  const whole = await scanUnits(path)
  t.same(whole, {
    units: [
      { start: a.start, end: a.end, time: t0 },
      { start: ddl.start, end: ddl.end, time: t0 + 1 },
      { start: myisamStart, end: myisamEnd, time: t0 + 2 },
      { start: b.start, end: b.end, time: t0 + 3 },
    ],
    complete: true,
    cut: false,
    error: '',
  })
  t.same((await scanUnits(path, ddl.start)).units.length, 3, 'from a position')
  t.same(
    (await scanUnits(path, from, t0 + 1)).units.map((u) => u.time),
    [t0, t0 + 1, t0 + 2],
    'with stopAfter, up to the first unit stamped after it',
  )
  // The open segment of a stopped archiver: cut inside the last event.
  writeFileSync(join(dir, 'scan-cut'), Buffer.concat(f.parts).subarray(0, b.end - 5))
  const cut = await scanUnits(join(dir, 'scan-cut'))
  t.same([cut.units.length, cut.complete, cut.cut], [3, false, true], 'cut: the whole units before it, and said to be cut')
  const bad = Buffer.concat(f.parts)
  bad[ddl.end - 6]! ^= 1
  writeFileSync(join(dir, 'scan-crc'), bad)
  const crc = await scanUnits(join(dir, 'scan-crc'))
  t.same([crc.units.length, crc.complete, crc.cut], [1, false, false], "a bad CRC32: not a cut (mariadb-binlog's to judge)")
  t.match(crc.error, /fails its CRC32/)
})
