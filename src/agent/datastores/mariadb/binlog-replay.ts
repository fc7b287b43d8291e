/**
 * The replay of archived binlogs, a batch of transactions per commit (issue 15 item 6:
 * a restore to a time within 1.5x of a plain restore).
 *
 * `mariadb-binlog | mariadb` applies one transaction after another: four statements and
 * a commit each (`SET gtid_seq_no`, `START TRANSACTION`, `BINLOG '...'`, `COMMIT`), and
 * the engine's work per statement and per commit, not the round trips, is the replay's
 * time (8,600 one-row transactions: 2.4 s). Here the common transactions (row events
 * only, ending in an Xid: what a tenant's DML on InnoDB writes) are applied as batches:
 * one `START TRANSACTION`, one `BINLOG` statement of all the batch's table maps and rows
 * events, one `COMMIT` under the GTID of the batch's last transaction (0.9 s for the same
 * 8,600 with a statement per transaction). The transactions' statements are joined into
 * one where they map the same tables with the same flags (Statements below: the server
 * opens and closes a statement's tables, and that was most of the time left: 20,000
 * one-row transactions in 0.19-0.30 s instead of 1.25-1.76 s on a scratch server).
 * Everything else (DDL, non-transactional tables, XA, events this file does not know)
 * goes through `mariadb-binlog` for exactly its byte range, its output passed on
 * unread, in binlog order between the batches. The same events are applied in the same
 * order; only the commits and the statements are fewer. The restored server's binlog
 * then has one GTID per batch, and ends on the same GTID as the replayed range
 * (`gtid_binlog_pos` matches).
 *
 * Written by hand: no Node library reads MariaDB's binlog format, and this reads only
 * what it must: the 19-byte event headers (type, size, next position), the GTID event's
 * fixed fields (sequence number, domain, flags), the rows events' flags and the format
 * description's checksum algorithm and post-header lengths; every event it sends is
 * checked against its CRC32 first (and given a new one where it clears a flag). Row data is never
 * decoded here (the server decodes it, as it does mariadb-binlog's BINLOG statements).
 * It runs in the agent on the instance's own files: a malformed file is a planning
 * error (the plain pipeline then replays it, and mariadb-binlog reports what is wrong).
 */
import { createReadStream } from 'node:fs'
import { open } from 'node:fs/promises'
import { crc32 } from 'node:zlib'
import type { BinlogUnit } from './binlog-parse.js'

/** Event types (MariaDB's log_event.h). */
const EV = {
  QUERY: 2,
  STOP: 3,
  ROTATE: 4,
  FORMAT_DESCRIPTION: 15,
  XID: 16,
  TABLE_MAP: 19,
  WRITE_ROWS_V1: 23,
  UPDATE_ROWS_V1: 24,
  DELETE_ROWS_V1: 25,
  ANNOTATE_ROWS: 160,
  BINLOG_CHECKPOINT: 161,
  GTID: 162,
  GTID_LIST: 163,
} as const
const ROWS = new Set<number>([EV.TABLE_MAP, EV.WRITE_ROWS_V1, EV.UPDATE_ROWS_V1, EV.DELETE_ROWS_V1])
/** Events that apply nothing (mariadb-binlog prints them as comments): skipped between transactions. */
const INERT = new Set<number>([EV.STOP, EV.ROTATE, EV.FORMAT_DESCRIPTION, EV.BINLOG_CHECKPOINT, EV.GTID_LIST])
/** GTID event flags: a statement outside any transaction, DDL, and the two XA phases. */
const GTID_STANDALONE = 1
const GTID_TRANSACTIONAL = 4
const GTID_DDL = 32
const GTID_XA = 64 | 128

const HEADER = 19
const MAGIC = Buffer.from([0xfe, 0x62, 0x69, 0x6e])

/** Why a file cannot be planned (the caller replays it the plain way). */
export class UnplannableBinlog extends Error {
  override name = 'UnplannableBinlog'
}

/** A file that ends inside an event: the open segment of an archiver that was stopped. */
class CutBinlog extends UnplannableBinlog {}

/** One event: where it starts, its type and raw bytes (header, body and checksum). */
interface BinlogEvent {
  pos: number
  type: number
  serverId: number
  raw: Buffer
}

/**
 * Little-endian integers of an event's bytes, by hand: the agent runs interpreted (--jitless),
 * where Buffer's readUInt32LE and readUInt16LE (JavaScript, their argument validated at each
 * call) were a third of a replay's preparation (20,000 transactions: ~0.75 of 2.3 s profiled).
 */
const u32 = (b: Buffer, at: number): number => (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0
const u16 = (b: Buffer, at: number): number => b[at]! | (b[at + 1]! << 8)

/** A read's worth of whole events: the buffer, where it starts in the file, each event's offset in it. */
interface Frames {
  buf: Buffer
  base: number
  at: number[]
}

/**
 * Walks the events of `path` in [from, to) (to: the end of the file when undefined) by their
 * headers (size, and the next position each claims, checked), a read's worth at a time (an
 * await per event was most of the time on 160,000 events), without an object per event.
 */
async function* frames(path: string, from: number, to?: number): AsyncGenerator<Frames> {
  // The bytes not walked yet, as the reads left them: joined only once the next event is whole (an
  // event of many reads, a statement's text of 100 MB, would otherwise be copied once per read).
  let parts: Buffer[] = []
  let have = 0
  let need = HEADER
  let pos = from
  for await (const chunk of createReadStream(path, { start: from, ...(to !== undefined ? { end: to - 1 } : {}), highWaterMark: 1 << 20 })) {
    parts.push(chunk as Buffer)
    have += (chunk as Buffer).length
    if (have < need) continue
    const pending = parts.length === 1 ? parts[0]! : Buffer.concat(parts, have)
    const f: Frames = { buf: pending, base: pos, at: [] }
    let off = 0
    while (pending.length - off >= HEADER) {
      const size = u32(pending, off + 9)
      if (size < HEADER) throw new UnplannableBinlog(`an event at ${pos} claims ${size} bytes`)
      if (pending.length - off < size) break
      const next = u32(pending, off + 13)
      if (next !== pos + size) {
        // The events before it are whole: theirs to use.
        if (f.at.length) yield f
        throw new UnplannableBinlog(`the event at ${pos} says the next is at ${next}, not ${pos + size}`)
      }
      f.at.push(off)
      pos += size
      off += size
    }
    if (f.at.length) yield f
    const rest = pending.subarray(off)
    parts = rest.length ? [rest] : []
    have = rest.length
    need = have >= HEADER ? Math.max(u32(rest, 9), HEADER) : HEADER
  }
  if (have) throw new CutBinlog(`${have} bytes at ${pos} are not a whole event`)
}

/** The events of `path` in [from, to) as objects, a read's worth at a time. */
async function* events(path: string, from: number, to?: number): AsyncGenerator<BinlogEvent[]> {
  for await (const { buf, base, at } of frames(path, from, to)) {
    const out: BinlogEvent[] = []
    for (const off of at) {
      const raw = buf.subarray(off, off + u32(buf, off + 9))
      out.push({ pos: base + off, type: raw[4]!, serverId: u32(raw, 5), raw })
    }
    yield out
  }
}

/** The file's format description (at byte 4): its raw bytes and whether events end in a CRC32. */
async function formatDescription(path: string): Promise<{ raw: Buffer; crc: boolean }> {
  const fh = await open(path, 'r')
  try {
    const head = Buffer.alloc(4 + HEADER)
    await fh.read(head, 0, head.length, 0)
    if (!head.subarray(0, 4).equals(MAGIC)) throw new UnplannableBinlog('not a binlog file')
    if (head[4 + 4] !== EV.FORMAT_DESCRIPTION) throw new UnplannableBinlog('no format description at byte 4')
    // A few hundred bytes in every MariaDB release: a size beyond that is not one (and not allocated).
    const size = u32(head, 4 + 9)
    if (size < HEADER + 57 + 5 || size > 64 << 10) throw new UnplannableBinlog(`a format description of ${size} bytes`)
    const raw = Buffer.alloc(size)
    await fh.read(raw, 0, raw.length, 4)
    // Its last five bytes: the checksum algorithm (0 none, 1 CRC32) and a checksum.
    const alg = raw[raw.length - 5]
    if (alg !== 0 && alg !== 1) throw new UnplannableBinlog(`checksum algorithm ${alg}`)
    const fde = { raw, crc: alg === 1 }
    check(fde, { pos: 4, type: EV.FORMAT_DESCRIPTION, serverId: 0, raw })
    return fde
  } finally {
    await fh.close()
  }
}

/** CRC-32's residue: the CRC32 of any bytes followed by their own CRC32 (little-endian). */
const CRC32_RESIDUE = 0x2144df1c

function check(fde: { crc: boolean }, e: BinlogEvent): void {
  if (!fde.crc) return
  // The format description's own checksum is computed with LOG_EVENT_BINLOG_IN_USE_F (bit 0 of byte 17) cleared.
  if (e.type === EV.FORMAT_DESCRIPTION && e.raw[17]! & 1) {
    const body = e.raw.subarray(0, e.raw.length - 4)
    const sum = crc32(Buffer.concat([body.subarray(0, 17), Buffer.from([body[17]! & ~1]), body.subarray(18)]))
    if (sum !== u32(e.raw, e.raw.length - 4)) throw new UnplannableBinlog(`the event at ${e.pos} fails its CRC32`)
    return
  }
  // Over the event with its checksum: no view of the body to make (the agent runs interpreted).
  if (crc32(e.raw) !== CRC32_RESIDUE) throw new UnplannableBinlog(`the event at ${e.pos} fails its CRC32`)
}

/** A Query event's SQL text (the event at `off` of `b`): after the post-header (13 bytes), the status variables and the NUL-ended db name. */
function queryText(b: Buffer, off: number, crc: boolean): string {
  const dbLen = b[off + HEADER + 8]!
  const statusLen = u16(b, off + HEADER + 11)
  const at = off + HEADER + 13 + statusLen + dbLen + 1
  return b.subarray(at, off + u32(b, off + 9) - (crc ? 4 : 0)).toString('latin1')
}

const COMMIT = /^(COMMIT|ROLLBACK)\b/

/**
 * The whole transactions (or DDL statements) of a file from `from`, as BinlogParser
 * finds them in mariadb-binlog's text (binlog-parse.ts: where each starts and ends, its
 * completing event's stamp), read from the events' headers here: no process, no
 * decoding (the restore's stop scan took 0.5 s through mariadb-binlog for 2 MB of log),
 * no object per event. A unit opens at a GTID event and ends at its Xid, at a DDL's
 * Query event, or at a Query event whose text is COMMIT or ROLLBACK (a
 * non-transactional table's); its stamp is the completing event's (epoch seconds, whole:
 * the binlog's resolution). Checksums are not read here: every event a restore replays
 * is checked by the pass that plans it (planReplay) or by mariadb-binlog
 * (--verify-binlog-checksum), a sealed segment by its sha256, and the scan only finds
 * where the replay stops. Anything it cannot read: `complete` false, the units before it
 * kept, and `cut` true when that is only the file ending inside an event (the open
 * segment: what mariadb-binlog would say too); any other fault is for mariadb-binlog to
 * judge (the caller reads the file with it). With `stopAfter` (epoch seconds) the scan
 * ends at the first unit stamped after it, and counts as complete.
 */
export async function scanUnits(path: string, from = 0, stopAfter?: number): Promise<{ units: BinlogUnit[]; complete: boolean; cut: boolean; error: string }> {
  const units: BinlogUnit[] = []
  let open: { start: number; ddl: boolean } | undefined
  try {
    const fde = await formatDescription(path)
    scan: for await (const { buf, base, at } of frames(path, Math.max(from, 4)))
      for (const off of at) {
        const type = buf[off + 4]
        let done = false
        if (type === EV.GTID) open = { start: base + off, ddl: (buf[off + HEADER + 12]! & GTID_DDL) !== 0 }
        else if (!open) continue
        else if (type === EV.XID) done = true
        else if (type === EV.QUERY) done = open.ddl || COMMIT.test(queryText(buf, off, fde.crc))
        if (!done || !open) continue
        const time = u32(buf, off)
        units.push({ start: open.start, end: base + off + u32(buf, off + 9), time })
        open = undefined
        if (stopAfter !== undefined && time > stopAfter) break scan
      }
    return { units, complete: true, cut: false, error: '' }
  } catch (err) {
    return { units, complete: false, cut: err instanceof CutBinlog, error: (err as Error).message }
  }
}

/** Rows events' post-header: the table id (6 bytes), then 2 bytes of flags. */
const ROWS_FLAGS_AT = HEADER + 6
/** The rows event flag that ends a statement: the server closes and unlocks its tables there. */
const STMT_END_F = 1

/**
 * Whether table maps and rows events have the post-header this file edits (an 8-byte one: a 6-byte
 * table id, then the rows events' flags), from the format description's post-header lengths (after
 * its 57 bytes of version, server version, create time and header length; one byte per event type).
 */
function sixByteTableIds(fde: Buffer): boolean {
  const lengths = fde.subarray(HEADER + 57, fde.length - 5)
  return [EV.TABLE_MAP, EV.WRITE_ROWS_V1, EV.UPDATE_ROWS_V1, EV.DELETE_ROWS_V1].every((type) => lengths[type - 1] === 8)
}

/**
 * A batch's row events as few statements as can be: the server closes and reopens the tables of
 * each statement (a rows event with STMT_END_F), and that, not the rows, was most of the batched
 * replay's time (20,000 one-row transactions on a scratch server: 1.25-1.76 s with a statement per
 * transaction, 0.19-0.30 s merged). A statement of the binlog (its table maps, then its rows events,
 * the last one flagged) joins the one before when that one already maps each of its tables (the same
 * table map, byte for byte: same table id, same table) and its rows events carry the same flags
 * (foreign key and unique checks) other than STMT_END_F, which the one before then loses (and its
 * checksum is made again); its table maps are dropped. Otherwise it starts a statement of its own,
 * with all its table maps: a table map after a statement's first rows event would not be opened,
 * and its rows would be skipped. The same row events, in the same order.
 */
class Statements {
  private readonly out: Buffer[] = []
  /** The binlog statement being read: its table maps and rows events. */
  private maps: Buffer[] = []
  private rows: Buffer[] = []
  /** The statement being sent: its table maps (bodies), its rows events' flags, its last rows event. */
  private open: { maps: Set<string>; flags: number; last: number } | undefined

  constructor(private readonly crc: boolean) {}

  add(e: BinlogEvent): void {
    if (e.type === EV.TABLE_MAP) {
      // A table map after rows events opens the next statement (the one before ended on its flagged rows event).
      if (this.rows.length) this.flush()
      this.maps.push(e.raw)
      return
    }
    this.rows.push(e.raw)
    if (u16(e.raw, ROWS_FLAGS_AT) & STMT_END_F) this.flush()
  }

  /** At a transaction's Xid: what is left of it (a statement ends on its flagged rows event, so normally nothing). */
  endTransaction(): void {
    if (this.maps.length || this.rows.length) this.flush()
  }

  /** The events to send, as one BINLOG statement's worth. */
  events(): Buffer {
    this.endTransaction()
    return Buffer.concat(this.out)
  }

  private body(e: Buffer): string {
    return e.subarray(HEADER, e.length - (this.crc ? 4 : 0)).toString('latin1')
  }

  private flush(): void {
    const maps = this.maps
    const rows = this.rows
    this.maps = []
    this.rows = []
    const flags = rows.map((r) => u16(r, ROWS_FLAGS_AT) & ~STMT_END_F)
    const ends = rows.length > 0 && (u16(rows.at(-1)!, ROWS_FLAGS_AT) & STMT_END_F) !== 0
    const o = this.open
    if (o && ends && maps.every((m) => o.maps.has(this.body(m))) && flags.every((f) => f === o.flags)) {
      this.out[o.last] = this.unflagged(this.out[o.last]!)
      this.out.push(...rows)
      o.last = this.out.length - 1
      return
    }
    this.out.push(...maps, ...rows)
    // Only a whole statement (ended by its flagged rows event, all its rows with one set of flags) takes others.
    this.open = ends && flags.every((f) => f === flags[0]) ? { maps: new Set(maps.map((m) => this.body(m))), flags: flags[0]!, last: this.out.length - 1 } : undefined
  }

  /** A copy of a rows event without STMT_END_F, its checksum made again. */
  private unflagged(e: Buffer): Buffer {
    const c = Buffer.from(e)
    c.writeUInt16LE(c.readUInt16LE(ROWS_FLAGS_AT) & ~STMT_END_F, ROWS_FLAGS_AT)
    if (this.crc) c.writeUInt32LE(crc32(c.subarray(0, c.length - 4)), c.length - 4)
    return c
  }
}

/** What the replay sends: SQL text of its own, or a byte range for mariadb-binlog. */
export type ReplayStep = { kind: 'sql'; text: string } | { kind: 'tool'; path: string; start: number; stop: number }

export interface ReplayFile {
  path: string
  /** Where the replay starts in it (4: the first event after the magic). */
  from: number
  /** Where it stops (exclusive; the end of the file when undefined; at or before `from`: nothing of it). */
  to?: number
}

/** What a plan holds: batches and the transactions in them, and ranges left to mariadb-binlog. */
export interface ReplayCounts {
  batches: number
  transactions: number
  ranges: number
}

/** Transactions per batch, and bytes of events per batch (a larger transaction goes to mariadb-binlog). */
export const BATCH = { units: 200, bytes: 4 << 20 }

/**
 * A session set up as mariadb-binlog's output sets it (and without annotations: the
 * server would log each batch's BINLOG text beside its rows), then the file's format
 * description (the server needs it before any row event; again after each range the
 * tool replayed, whose output ends by resetting the session).
 */
const preamble = (fde: Buffer) =>
  `SET @@SESSION.PSEUDO_SLAVE_MODE=1;\nSET @@session.max_delayed_threads=0;\nSET @OLD_COMPLETION_TYPE=@@COMPLETION_TYPE,COMPLETION_TYPE=0;\nSET @@session.binlog_annotate_row_events=0;\nBINLOG '${fde.toString('base64')}';\n`

/**
 * The replay's steps, in one pass over the files' events (the agent runs interpreted: a pass
 * to plan and another to write the batches was a third of a restore's preparation). A unit
 * runs from a GTID event to the next: a **row transaction** (a transactional GTID, not
 * standalone, DDL or XA; then only annotations, table maps and rows events, at most a batch's
 * bytes of them; then its Xid, and only inert events after it) joins the open batch, whose SQL
 * is yielded when the next unit cannot join it (another domain or server, the batch full, or
 * not a row transaction); **anything else** (and events outside a unit that apply something)
 * is a byte range for mariadb-binlog, consecutive ones as one. A unit's events are held until
 * it is known to be a row transaction (its Xid): at most a batch's bytes; a larger
 * transaction goes to mariadb-binlog. Every event is checked (CRC32) as it is read. A file the
 * pass cannot read fails the iteration: the caller writes all the steps before anything is
 * sent (pitr.ts, writeScript), and replays the plain way instead. `counts` fills in as the
 * steps are taken.
 */
export async function planReplay(files: ReplayFile[], batch = BATCH): Promise<{ steps: AsyncGenerator<ReplayStep>; counts: ReplayCounts }> {
  const counts: ReplayCounts = { batches: 0, transactions: 0, ranges: 0 }
  const steps = (async function* (): AsyncGenerator<ReplayStep> {
    for (const file of files) {
      // A stop at or before the start: nothing of this file (the open one, before its first whole transaction).
      if (file.to !== undefined && file.to <= Math.max(file.from, 4)) continue
      const fde = await formatDescription(file.path)
      if (!sixByteTableIds(fde.raw)) throw new UnplannableBinlog(`${file.path}: table maps and rows events without a 6-byte table id`)
      let primed = false
      let open: { domain: number; serverId: number; seq: bigint; count: number; bytes: number; statements: Statements } | undefined
      let range: { start: number; stop: number } | undefined
      let cur: { start: number; domain: number; serverId: number; seq: bigint; ok: boolean; done: boolean; bytes: number; rows: BinlogEvent[] } | undefined
      let other: number | undefined
      const out: ReplayStep[] = []
      const flushBatch = (): void => {
        if (!open) return
        const head = primed ? '' : preamble(fde.raw)
        primed = true
        // gtid_seq_no on its own: a SET checks it against the domain in force before the statement.
        out.push({
          kind: 'sql',
          text: `${head}SET @@session.gtid_domain_id=${open.domain}, @@session.server_id=${open.serverId};\nSET @@session.gtid_seq_no=${open.seq};\nSTART TRANSACTION;\nBINLOG '${open.statements.events().toString('base64')}';\nCOMMIT;\n`,
        })
        counts.batches++
        counts.transactions += open.count
        open = undefined
      }
      const flushRange = (): void => {
        if (!range) return
        out.push({ kind: 'tool', path: file.path, ...range })
        counts.ranges++
        // The tool's output ends by resetting the session: the next batch sets it up again.
        primed = false
        range = undefined
      }
      const toTool = (start: number, stop: number): void => {
        flushBatch()
        if (range?.stop === start) range.stop = stop
        else {
          flushRange()
          range = { start, stop }
        }
      }
      const close = (at: number): void => {
        if (cur?.ok && cur.done) {
          const u = cur
          flushRange()
          if (open && (open.domain !== u.domain || open.serverId !== u.serverId || open.count >= batch.units || open.bytes + u.bytes > batch.bytes)) flushBatch()
          open ??= { domain: u.domain, serverId: u.serverId, seq: u.seq, count: 0, bytes: 0, statements: new Statements(fde.crc) }
          for (const e of u.rows) open.statements.add(e)
          open.statements.endTransaction()
          open.seq = u.seq
          open.count++
          open.bytes += u.bytes
        } else if (cur) toTool(cur.start, at)
        cur = undefined
        if (other !== undefined) toTool(other, at)
        other = undefined
      }
      let pos = Math.max(file.from, 4)
      for await (const chunk of events(file.path, pos, file.to)) {
        for (const e of chunk) {
          check(fde, e)
          pos = e.pos + e.raw.length
          if (e.type === EV.GTID) {
            close(e.pos)
            const flags = e.raw[HEADER + 12]!
            const ok = (flags & GTID_TRANSACTIONAL) !== 0 && (flags & (GTID_STANDALONE | GTID_DDL | GTID_XA)) === 0
            cur = { start: e.pos, seq: e.raw.readBigUInt64LE(HEADER), domain: u32(e.raw, HEADER + 8), serverId: e.serverId, ok, done: false, bytes: 0, rows: [] }
            continue
          }
          if (cur) {
            if (cur.done) {
              // After the Xid only inert events may follow in a row transaction; they end it.
              if (INERT.has(e.type)) close(e.pos)
              else cur.ok = false
            } else if (e.type === EV.XID) cur.done = true
            else if (ROWS.has(e.type)) {
              cur.bytes += e.raw.length
              if (!cur.ok) continue
              // Larger than a batch: mariadb-binlog's (its events are not held).
              if (cur.bytes > batch.bytes) {
                cur.ok = false
                cur.rows = []
              } else cur.rows.push(e)
            } else if (e.type !== EV.ANNOTATE_ROWS) {
              cur.ok = false
              cur.rows = []
            }
            continue
          }
          if (!INERT.has(e.type)) other ??= e.pos
        }
        yield* out.splice(0)
      }
      close(pos)
      flushBatch()
      flushRange()
      yield* out.splice(0)
    }
  })()
  return { steps, counts }
}
