/**
 * What point-in-time recovery needs from a binlog file, read from `mariadb-binlog`'s
 * text output (run with TZ=UTC): where each transaction ends and when it was stamped.
 * MariaDB has no library for its binlog format in Node, and its own tool already
 * decodes (and checks the CRC32 of) every event: parsing its event headers is the
 * smallest piece that no tool gives.
 *
 * Resolution: MariaDB stamps binlog events with whole seconds (the statement's start;
 * row events carry no fraction), so a transaction's time here is a whole second.
 */

/** A binlog file name of the instance (log-bin=.../mysql-bin) and its sequence number. */
export const BINLOG_FILE = /^mysql-bin\.(\d{6,})$/

/** The numeric suffix of a binlog file name (the segment's seq), or undefined. */
export function binlogSeq(name: string): number | undefined {
  const m = BINLOG_FILE.exec(name)
  return m ? Number(m[1]) : undefined
}

/** The binlog file name of a seq (six digits at least, as the server names them). */
export const binlogName = (seq: number): string => `mysql-bin.${String(seq).padStart(6, '0')}`

/** One complete transaction (or DDL statement) of a binlog file. */
export interface BinlogUnit {
  /** Byte offset of its first event (its GTID event). */
  start: number
  /** Byte offset just past its last event (COMMIT, Xid or the DDL's Query). */
  end: number
  /** Its stamp: epoch seconds of its completing event (the commit statement's start). */
  time: number
}

/** `#261205 14:06:53 server id 7  end_log_pos 384 CRC32 0x1ae73fdd 	GTID 0-7-9 trans` */
const HEADER = /^#(\d\d)(\d\d)(\d\d) +(\d{1,2}):(\d\d):(\d\d) server id \d+ +end_log_pos (\d+)(?: CRC32 0x[0-9a-f]+)?\s+(.*)$/
const AT = /^# at (\d+)$/
const COMMIT = /^(COMMIT|ROLLBACK)\b/

/**
 * Incremental parser: feed it the tool's lines in order. Units are complete only once
 * their COMMIT/Xid (or a DDL's single Query) was seen, so a file cut in the middle of
 * a transaction (the open segment of a killed archiver) yields only whole ones.
 */
export class BinlogParser {
  readonly units: BinlogUnit[] = []
  private at = 0
  private open: { start: number; ddl: boolean } | undefined
  /** The event whose body is being read: its end and time. */
  private event: { end: number; time: number; query: boolean } | undefined

  line(l: string): void {
    const at = AT.exec(l)
    if (at) {
      this.at = Number(at[1])
      return
    }
    const h = HEADER.exec(l)
    if (h) {
      const time = Date.UTC(2000 + Number(h[1]), Number(h[2]) - 1, Number(h[3]), Number(h[4]), Number(h[5]), Number(h[6])) / 1000
      const end = Number(h[7])
      const what = h[8]!
      this.event = { end, time, query: what.startsWith('Query') }
      if (what.startsWith('GTID ')) this.open = { start: this.at, ddl: / ddl$/.test(what) }
      else if (what.startsWith('Xid')) this.finish()
      else if (this.open?.ddl && this.event.query) this.finish()
      return
    }
    if (this.open && this.event?.query && COMMIT.test(l)) this.finish()
  }

  private finish(): void {
    if (!this.open || !this.event) return
    this.units.push({ start: this.open.start, end: this.event.end, time: this.event.time })
    this.open = undefined
  }
}

/** Parses a whole text (tests, small files). */
export function parseBinlogText(text: string): BinlogUnit[] {
  const p = new BinlogParser()
  for (const l of text.split('\n')) p.line(l)
  return p.units
}

/**
 * Where a replay to `target` (epoch seconds, whole: the binlog's resolution) stops in a
 * file: before the first transaction stamped after it (binlog order is commit order,
 * so every later one committed later still), else after the last whole one. Undefined
 * when the file holds no transaction at or after `from`.
 */
export function stopPosition(units: BinlogUnit[], target: number | 'latest', from = 0): { pos: number; reached: boolean } | undefined {
  const mine = units.filter((u) => u.start >= from)
  if (!mine.length) return undefined
  if (target !== 'latest') {
    const i = mine.findIndex((u) => u.time > target)
    if (i === 0) return { pos: mine[0]!.start, reached: true }
    if (i > 0) return { pos: mine[i - 1]!.end, reached: true }
  }
  return { pos: mine[mine.length - 1]!.end, reached: false }
}
