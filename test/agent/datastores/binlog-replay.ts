// The batched replay's plan (src/agent/datastores/mariadb/binlog-replay.ts) on binlog files built here
// event by event (headers, GTID fields, CRC32s as MariaDB writes them; the bodies of row events are
// opaque to the plan): which transactions go into batches, where mariadb-binlog takes a range, the
// GTID each batch commits under, and the files the plan must refuse. The real engine replays plans in
// test/e2e/pitr-mariadb.ts (a mixed workload, row for row).
import t from 'tap'
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { crc32 } from 'node:zlib'
import { planReplay, type ReplayFile, type ReplayStep, scanUnits } from '../../../src/agent/datastores/mariadb/binlog-replay.js'
import { writeScript } from '../../../src/agent/datastores/mariadb/pitr.js'

const dir = mkdtempSync(join(tmpdir(), 'binlog-replay-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))

const GTID_TRANSACTIONAL = 4
const GTID_DDL = 32
const GTID_STANDALONE = 1
const STMT_END_F = 1
const NO_FOREIGN_KEY_CHECKS_F = 2
/** A binlog statement of a row transaction: its table, then a rows event per flags (the last one's ending it). */
type Statement = { table: number; flags: number[] }

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
    // The format description: version 4, a server version, a timestamp, header length 19, the
    // post-header length of each event type (8 for table maps and rows events: a 6-byte table id and
    // 2 bytes of flags), then the checksum algorithm (1: CRC32, 0: none) and 4 checksum bytes.
    const body = Buffer.alloc(2 + 50 + 4 + 1 + 164)
    body.writeUInt16LE(4, 0)
    body.write('10.11.19-MariaDB', 2)
    body[56] = 19
    for (const type of [19, 23, 24, 25]) body[57 + type - 1] = 8
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

  /**
   * A row transaction: GTID, annotation, then per statement its table's map and its rows events (the
   * rows opaque: the seq's byte), then the Xid. Returns its [start, end] and its table map and rows events.
   */
  rowTx(seq: number, o: { domain?: number; serverId?: number; rowBytes?: number; statements?: Statement[] } = {}): { start: number; end: number; events: Buffer[] } {
    const start = this.gtid(seq, GTID_TRANSACTIONAL, o.domain ?? 0, o.serverId)
    this.event(160, Buffer.from('INSERT INTO d.t VALUES (1)'))
    const before = this.parts.length
    for (const st of o.statements ?? [{ table: 1, flags: [STMT_END_F] }]) {
      this.event(19, tableMap(st.table))
      for (const flags of st.flags) this.event(23, Buffer.concat([postHeader(st.table, flags), Buffer.alloc(o.rowBytes ?? 16, seq & 0xff)]))
    }
    const events = this.parts.slice(before)
    this.event(16, Buffer.alloc(8))
    return { start, end: this.pos, events }
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

/** A table map's or rows event's post-header: the 6-byte table id, 2 bytes of flags. */
function postHeader(table: number, flags: number): Buffer {
  const b = Buffer.alloc(8)
  b.writeUIntLE(table, 0, 6)
  b.writeUInt16LE(flags, 6)
  return b
}

/** A table map: its post-header, the database and table names (the rest opaque to the plan). */
const tableMap = (table: number): Buffer => Buffer.concat([postHeader(table, 1), Buffer.from(`\x01d\0\x02t${table}\0`)])

/** The events of a BINLOG statement's base64: type, table id, the rows events' flags, and whether its CRC32 holds. */
function decoded(base64: string, crc = true): Array<{ type: number; table: number; flags: number; crcOk: boolean; payload: string }> {
  const b = Buffer.from(base64, 'base64')
  const out = []
  for (let at = 0; at < b.length; ) {
    const e = b.subarray(at, at + b.readUInt32LE(at + 9))
    const end = e.length - (crc ? 4 : 0)
    out.push({ type: e[4]!, table: e.readUIntLE(19, 6), flags: e.readUInt16LE(25), crcOk: !crc || crc32(e.subarray(0, end)) === e.readUInt32LE(end), payload: e.subarray(27, end).toString('hex') })
    at += e.length
  }
  return out
}

/** The events as the file has them, decoded the same way. */
const fileEvents = (events: Buffer[], crc = true) => decoded(Buffer.concat(events).toString('base64'), crc)

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
  t.equal(binlogOf(first!.text).length, 2, "one BINLOG statement after the format description's")
  const sent = decoded(binlogOf(first!.text)[1]!)
  t.same(
    sent.map((e) => [e.type, e.table, e.flags, e.crcOk]),
    [
      [19, 1, 1, true],
      [23, 1, 0, true],
      [23, 1, STMT_END_F, true],
    ],
    "the batch's two transactions as one statement: the first one's table map, the first rows event no longer ending the statement (its CRC32 made again)",
  )
  t.same(
    sent.map((e) => e.payload),
    [...fileEvents(a[0]!.events), ...fileEvents(a[1]!.events)].filter((e, i) => e.type !== 19 || i === 0).map((e) => e.payload),
    'the same table map and rows, no GTID, annotation or Xid',
  )
  t.notMatch(second!.text, /PSEUDO_SLAVE_MODE/, 'the next batch needs no set-up')
  t.match(second!.text, /gtid_seq_no=3;/, 'the second batch: transaction 3')
  t.match(third!.text, /^SET @@SESSION\.PSEUDO_SLAVE_MODE=1;/, "after the tool's range (whose output resets the session) it is set up again")
  t.match(third!.text, /gtid_seq_no=6;/, 'the last batch: transactions 5 and 6')
  t.same(
    decoded(binlogOf(third!.text)[1]!).map((e) => [e.type, e.flags, e.payload]),
    [
      [19, 1, fileEvents(b[0]!.events)[0]!.payload],
      [23, 0, fileEvents(b[0]!.events)[1]!.payload],
      [23, STMT_END_F, fileEvents(b[1]!.events)[1]!.payload],
    ],
  )
})

t.test('the statements of a batch: one where they can be, one of its own where the tables or the flags change', async (t) => {
  const f = new File()
  const from = f.pos
  const one = (table: number, flags = STMT_END_F): Statement => ({ table, flags: [flags] })
  const txs = [
    f.rowTx(1),
    f.rowTx(2, { statements: [{ table: 1, flags: [0, STMT_END_F] }] }), // a statement of two rows events: joins
    f.rowTx(3, { statements: [one(2)] }), // another table: a statement of its own
    f.rowTx(4, { statements: [one(1)] }), // table 1 again: not mapped by the open statement
    f.rowTx(5, { statements: [one(1, NO_FOREIGN_KEY_CHECKS_F | STMT_END_F)] }), // other flags
    f.rowTx(6, { statements: [one(1), one(1)] }), // two statements: the second joins the first
    f.rowTx(7, { statements: [{ table: 2, flags: [0] }] }), // no rows event ends it: sent as it is, joined by nothing
    f.rowTx(8, { statements: [one(2)] }),
  ]
  const path = f.write('statements')
  const { steps, counts } = await all([{ path, from }])
  t.same(counts, { batches: 1, transactions: 8, ranges: 0 })
  const sent = decoded(binlogOf((steps[0] as Extract<ReplayStep, { kind: 'sql' }>).text)[1]!)
  const M = 19
  const R = 23
  const E = STMT_END_F
  t.same(
    sent.map((e) => [e.type, e.table, e.type === M ? '' : e.flags]),
    [
      [M, 1, ''],
      [R, 1, 0],
      [R, 1, 0],
      [R, 1, E],
      [M, 2, ''],
      [R, 2, E],
      [M, 1, ''],
      [R, 1, E],
      [M, 1, ''],
      [R, 1, NO_FOREIGN_KEY_CHECKS_F | E],
      [M, 1, ''],
      [R, 1, 0],
      [R, 1, E],
      [M, 2, ''],
      [R, 2, 0],
      [M, 2, ''],
      [R, 2, E],
    ],
    'statements joined only under the same table maps and flags',
  )
  t.ok(
    sent.every((e) => e.crcOk),
    'every event sent has a valid CRC32',
  )
  t.same(
    sent.filter((e) => e.type === R).map((e) => e.payload),
    txs.flatMap((tx) => fileEvents(tx.events).filter((e) => e.type === R)).map((e) => e.payload),
    'every rows event, in binlog order',
  )
  // A format description whose table ids are not 6 bytes: the plan refuses the file (the plain replay takes it).
  const bytes = Buffer.concat(f.parts)
  bytes[4 + 19 + 57 + 18] = 6
  const fdeLength = bytes.readUInt32LE(4 + 9)
  bytes.writeUInt32LE(crc32(bytes.subarray(4, 4 + fdeLength - 4)), 4 + fdeLength - 4)
  writeFileSync(join(dir, 'four-byte-ids'), bytes)
  await t.rejects(all([{ path: join(dir, 'four-byte-ids'), from }]), { name: 'UnplannableBinlog', message: /without a 6-byte table id/ })
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
  t.same(sets, ['0-7-1', '1-7-1', '1-9-2', 'tool', '1-9-5'], 'domain 0, domain 1, server 9, the transaction larger than a batch through mariadb-binlog, then 4 and 5; 6 is after the stop')
  t.equal(counts.transactions, 5)
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
  t.equal(binlogOf(texts[1]!)[1], Buffer.concat(tx.events).toString('base64'), 'a file without checksums: its events as they are')
})

t.test('a file the pass cannot trust fails it (the caller writes every step before it sends any)', async (t) => {
  const f = new File()
  const from = f.pos
  const tx = f.rowTx(1)
  const good = Buffer.concat(f.parts)
  const bad = Buffer.from(good)
  bad[tx.end - 10]! ^= 0xff
  writeFileSync(join(dir, 'crc'), bad)
  await t.rejects(all([{ path: join(dir, 'crc'), from }]), { name: 'UnplannableBinlog', message: /fails its CRC32/ }, 'a CRC32 that does not match')
  writeFileSync(join(dir, 'short'), good.subarray(0, good.length - 3))
  await t.rejects(all([{ path: join(dir, 'short'), from }]), { message: /are not a whole event/ }, 'a file cut inside an event')
  const moved = Buffer.from(good)
  moved.writeUInt32LE(tx.end + 1, tx.end - 31 + 13) // the Xid's next position
  writeFileSync(join(dir, 'next'), moved)
  await t.rejects(all([{ path: join(dir, 'next'), from }]), { name: 'UnplannableBinlog', message: /says the next is at/ }, 'an event whose next position is not where it ends')
  writeFileSync(join(dir, 'text'), 'not a binlog at all, just text')
  await t.rejects(all([{ path: join(dir, 'text'), from: 4 }]), { message: 'not a binlog file' })
})

t.test('an event of many reads is walked whole; a format description of an impossible size is refused', async (t) => {
  const f = new File()
  const from = f.pos
  f.rowTx(1)
  // A statement's text of 3 MB (its annotation), three reads' worth, inside a row transaction.
  const start = f.gtid(2)
  f.event(160, Buffer.alloc(3 << 20, 0x61))
  f.event(19, tableMap(1))
  f.event(23, Buffer.concat([postHeader(1, STMT_END_F), Buffer.alloc(16, 2)]))
  f.event(16, Buffer.alloc(8))
  const end = f.pos
  f.rowTx(3)
  const path = f.write('large-event')
  const scan = await scanUnits(path)
  t.ok(scan.complete, 'the scan reads it to its end')
  t.same(
    scan.units.map((u) => [u.start, u.end]).filter(([s]) => s === start),
    [[start, end]],
    'the transaction with the large event, where it starts and ends',
  )
  const { counts } = await all([{ path, from }])
  t.same(counts, { batches: 1, transactions: 3, ranges: 0 }, 'a row transaction like the others (its annotation is not sent)')
  const huge = Buffer.concat(f.parts)
  huge.writeUInt32LE(1 << 30, 4 + 9) // the format description claims 1 GB
  writeFileSync(join(dir, 'huge-fde'), huge)
  await t.rejects(all([{ path: join(dir, 'huge-fde'), from }]), { name: 'UnplannableBinlog', message: /a format description of 1073741824 bytes/ })
})

t.test('writeScript: each run of batches into a file of its own, the ranges between them in order', async (t) => {
  const work = mkdtempSync(join(dir, 'script-'))
  async function* steps(): AsyncGenerator<ReplayStep> {
    yield { kind: 'sql', text: 'one;\n' }
    yield { kind: 'sql', text: 'two;\n' }
    yield { kind: 'tool', path: '/x', start: 4, stop: 9 }
    yield { kind: 'tool', path: '/x', start: 9, stop: 12 }
    yield { kind: 'sql', text: 'three;\n' }
  }
  const script = await writeScript(steps(), work)
  t.same(
    script.map((s) => (s.kind === 'file' ? readFileSync(s.path, 'utf8') : [s.start, s.stop])),
    ['one;\ntwo;\n', [4, 9], [9, 12], 'three;\n'],
  )
  t.same(
    script.filter((s) => s.kind === 'file').map((s) => statSync((s as { path: string }).path).mode & 0o777),
    [0o600, 0o600],
    "the agent's files only",
  )
  async function* failing(): AsyncGenerator<ReplayStep> {
    yield { kind: 'sql', text: 'one;\n' }
    throw new Error('the plan could not read it')
  }
  await t.rejects(writeScript(failing(), mkdtempSync(join(dir, 'script-'))), { message: 'the plan could not read it' }, "the plan's fault is the caller's (it replays the plain way)")
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
  // A body byte flipped: the scan reads headers only (it finds where a replay stops); the pass that plans the replay refuses it.
  const bad = Buffer.concat(f.parts)
  bad[ddl.end - 6]! ^= 1
  writeFileSync(join(dir, 'scan-crc'), bad)
  t.same((await scanUnits(join(dir, 'scan-crc'))).units.length, 4, 'a bad CRC32 in a body: the same units')
  await t.rejects(all([{ path: join(dir, 'scan-crc'), from }]), { message: /fails its CRC32/ }, 'which the replay refuses')
  // A header that does not hold (its next position): not a cut, mariadb-binlog's to judge.
  const moved = Buffer.concat(f.parts)
  moved.writeUInt32LE(ddl.end + 1, ddl.start + 13) // the DDL's GTID event
  writeFileSync(join(dir, 'scan-next'), moved)
  const next = await scanUnits(join(dir, 'scan-next'))
  t.same([next.units.length, next.complete, next.cut], [1, false, false], 'a header that does not hold: the units before it, not a cut')
  t.match(next.error, /says the next is at/)
})
