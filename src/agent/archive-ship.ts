import { createHash } from 'node:crypto'
import { constants as fsc } from 'node:fs'
import { lstat, open, readFile, readdir, rm, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { ARCHIVE_CONTAINER, ARCHIVE_HEADERS, ARCHIVE_OBJECT_NAME, SEGMENT_SIDECAR_SUFFIX, segmentSeqOf, type ArchiveSegment } from '../protocol/index.js'
import { oneLine } from './engine-process.js'
import type { ObjectStore } from './object-store.js'

/** How often the open segment is shipped: the RPO of a sandboxed instance's archive (docs/pitr.md). */
export const SHIP_MS = 250
/** After the store refused a write for the archive's cap (507): the next try (retention frees room in minutes, not seconds). */
const FULL_RETRY_MS = 30_000
/** WAL page size: an open WAL segment is re-sent from the start of the page it ended in. */
const PAGE = 8192
const WAL = /^[0-9A-F]{24}(?:\.partial)?$/

/**
 * Ships a sandboxed instance's archive (the archiver writes it in the instance's own volume) into the
 * server's store through the object store (server: object-store/archive.ts), every SHIP_MS:
 * - each sealed segment once (its sidecar's commit times as claims; the server computes sha256, size
 *   and seq itself): when the store holds the whole open object already, only the seal is sent and the
 *   server checks its own bytes against the sidecar's sha256; else the file is sent whole;
 * - the open segment (and a complete one not sealed yet) as the replaceable object `<name>` (WAL:
 *   `<segment>.partial`), appending what was added since the last pass (from the start of its page);
 * - timeline histories once.
 * Sealed segments the store has are removed here, but the newest (the archiver resumes after it):
 * the volume does not fill with WAL or binlogs. `latest` is the archiver's latest time as it was when
 * the last pass that shipped everything began: the store holds every commit up to it.
 */
export class ArchiveShipper {
  private timer: NodeJS.Timeout | undefined
  private running = false
  private passing: Promise<void> | undefined
  /** Sealed segments the store has. */
  private readonly stored = new Set<string>()
  /** Open objects: bytes the store holds of each, and the local file's mtime when they were sent. */
  private readonly opened = new Map<string, number>()
  private readonly openedAt = new Map<string, number>()
  private shipped: string | null = null
  private failure: string | undefined

  constructor(
    private readonly store: ObjectStore,
    private readonly dir: string,
    private readonly instanceId: string,
    private readonly claim: () => string | null,
    private readonly log: (m: string) => void,
    /** Pass cadence and the wait after a 507 (tests shorten them). */
    private readonly timing: { shipMs: number; fullRetryMs: number } = { shipMs: SHIP_MS, fullRetryMs: FULL_RETRY_MS },
  ) {}

  start(): void {
    if (this.running) return
    this.running = true
    this.schedule(0)
  }

  /** Stops, after one last pass (a stopped engine's last commits reach the store), and closes its store client. */
  async stop(): Promise<void> {
    this.running = false
    clearTimeout(this.timer)
    await this.passing
    await this.pass().catch((e: Error) => this.fail(e))
    this.store.close()
  }

  /** Every commit up to this time is in the store (null: not known yet). */
  latest(): string | null {
    return this.shipped
  }

  /** Why the last pass failed, if it did. */
  error(): string | undefined {
    return this.failure
  }

  private fail(e: Error): void {
    const m = oneLine(e.message, 300)
    if (m !== this.failure) this.log(`archive: shipping: ${m}`)
    this.failure = m
  }

  private schedule(ms: number): void {
    if (!this.running) return
    this.timer = setTimeout(() => {
      const t0 = Date.now()
      let full = false
      this.passing = this.pass()
        .catch((e: Error & { status?: number }) => {
          full = e.status === 507
          this.fail(e)
        })
        .finally(() => {
          this.passing = undefined
          // Passes start SHIP_MS apart (a slow one is followed at once): the loss bound stays SHIP_MS + one pass.
          // An archive at its cap (507) waits for retention to make room: no segment sent again every pass.
          this.schedule(full ? this.timing.fullRetryMs : Math.max(0, this.timing.shipMs - (Date.now() - t0)))
        })
    }, ms)
    this.timer.unref()
  }

  private object(name: string): string {
    return `${this.instanceId}/${name}`
  }

  /** One pass: everything the directory holds now goes to the store. */
  async pass(): Promise<void> {
    const claim = this.claim()
    const names = await readdir(this.dir).catch(() => [] as string[])
    const have = new Set(names)
    const files: string[] = []
    for (const n of names) {
      if (!ARCHIVE_OBJECT_NAME.test(n) || n.endsWith(SEGMENT_SIDECAR_SUFFIX)) continue
      // Only the archiver's regular files: a link planted in the volume is not followed, nor shipped.
      if ((await lstat(join(this.dir, n)).catch(() => undefined))?.isFile()) files.push(n)
    }
    const bySeq = (a: string, b: string) => (segmentSeqOf(a) ?? 0) - (segmentSeqOf(b) ?? 0) || a.localeCompare(b)
    const sealed = files.filter((n) => have.has(n + SEGMENT_SIDECAR_SUFFIX)).sort(bySeq)
    for (const n of sealed) if (!this.stored.has(n)) await this.seal(n)
    for (const n of sealed.slice(0, -1)) {
      await rm(join(this.dir, n + SEGMENT_SIDECAR_SUFFIX), { force: true })
      await rm(join(this.dir, n), { force: true })
      this.stored.delete(n)
    }
    for (const n of files.filter((x) => x.endsWith('.history') && !this.stored.has(x))) {
      await this.putWhole(n, n, {}).catch(conflictIsDone)
      this.stored.add(n)
    }
    const open = files.filter((n) => !n.endsWith('.history') && !have.has(n.replace(/\.partial$/, '') + SEGMENT_SIDECAR_SUFFIX)).sort(bySeq)
    for (const n of open) await this.shipOpen(n)
    await this.dropEndedTimelines(files, open)
    for (const k of this.opened.keys())
      if (this.stored.has(k.replace(/\.partial$/, ''))) {
        this.opened.delete(k)
        this.openedAt.delete(k)
      }
    this.shipped = claim
    this.failure = undefined
  }

  /**
   * A `.partial` of an older timeline than the newest WAL file here is where that timeline ended (a failover
   * promoted another member; pg_receivewal moved on to the new timeline and never writes it again). Once the
   * store holds it whole it goes from the volume: one segment per failover would otherwise stay for ever
   * (BENCHMARKS.md: a 1 GB volume full after 20 failovers). The store keeps it for restores to a time on that
   * timeline, until retention removes it with the segments before the oldest kept backup (backups/archive-prune.ts).
   */
  private async dropEndedTimelines(files: string[], open: string[]): Promise<void> {
    const timeline = (n: string) => Number.parseInt(n.slice(0, 8), 16)
    const newest = Math.max(0, ...files.filter((n) => WAL.test(n)).map(timeline))
    for (const n of open) {
      if (!WAL.test(n) || !n.endsWith('.partial') || timeline(n) >= newest) continue
      const fh = await openLocal(join(this.dir, n))
      const whole = await walLength(fh).finally(() => fh.close())
      if (this.opened.get(n) !== whole) continue
      await rm(join(this.dir, n), { force: true })
      this.opened.delete(n)
      this.openedAt.delete(n)
    }
  }

  /** A sealed segment: the seal alone when the store holds the open object whole, else the file. */
  private async seal(name: string): Promise<void> {
    const side = JSON.parse(await readFile(join(this.dir, name + SEGMENT_SIDECAR_SUFFIX), 'utf8')) as ArchiveSegment
    const claims = { [ARCHIVE_HEADERS.firstTime]: side.first_time ?? '', [ARCHIVE_HEADERS.lastTime]: side.last_time ?? '' }
    const openName = WAL.test(name) ? `${name}.partial` : name
    if (this.opened.get(openName) === side.bytes) {
      const ok = await this.store
        .put(ARCHIVE_CONTAINER, this.object(name), Buffer.alloc(0), md5Of(Buffer.alloc(0)), undefined, { ...claims, [ARCHIVE_HEADERS.sha256]: side.sha256 })
        .then(() => true, conflictIsDone)
      if (ok !== false) return void this.stored.add(name)
    }
    await this.putWhole(name, name, claims).catch(conflictIsDone)
    this.stored.add(name)
  }

  /** The whole file (read without following a link: a link planted in the volume ships nothing). */
  private async putWhole(local: string, name: string, headers: Record<string, string>, length?: number): Promise<void> {
    const fh = await openLocal(join(this.dir, local))
    try {
      const size = length ?? (await fh.stat()).size
      const hash = createHash('md5')
      await this.store.put(ARCHIVE_CONTAINER, this.object(name), hashed(fh, 0, size, hash), () => hash.digest('hex'), undefined, headers)
    } finally {
      await fh.close()
    }
  }

  /** The open segment: what was added since the last pass, or all of it when the store's copy is unknown. */
  private async shipOpen(local: string): Promise<void> {
    const name = WAL.test(local) && !local.endsWith('.partial') ? `${local}.partial` : local
    const fh = await openLocal(join(this.dir, local))
    try {
      const st = await fh.stat()
      const size = WAL.test(local) ? await walLength(fh) : st.size
      const had = this.opened.get(name)
      // WAL lengths are whole pages: the last one fills up without the length changing, the mtime does.
      if (had === size && this.openedAt.get(name) === st.mtimeMs) return
      if (had !== undefined && had <= size) {
        // From the start of the last page sent: it may have been sent part-written.
        const from = Math.max(0, had - 1) - (Math.max(0, had - 1) % PAGE)
        const hash = createHash('md5')
        const ok = await this.store
          .put(ARCHIVE_CONTAINER, this.object(name), hashed(fh, from, size, hash), () => hash.digest('hex'), undefined, { [ARCHIVE_HEADERS.offset]: String(from) })
          .then(() => true, conflictIsDone)
        if (ok === true) {
          this.opened.set(name, size)
          this.openedAt.set(name, st.mtimeMs)
          return
        }
      }
      const hash = createHash('md5')
      await this.store.put(ARCHIVE_CONTAINER, this.object(name), hashed(fh, 0, size, hash), () => hash.digest('hex'))
      this.opened.set(name, size)
      this.openedAt.set(name, st.mtimeMs)
    } catch (e) {
      // Sealed meanwhile (409): the next pass sends the seal.
      if ((e as { status?: number }).status !== 409) throw e
    } finally {
      await fh.close()
    }
  }
}

/** A 409 (the store has it, or the open object is not what we thought): false; anything else throws. */
function conflictIsDone(e: Error & { status?: number }): false {
  if (e.status === 409) return false
  throw e
}

function md5Of(b: Buffer): () => string {
  return () => createHash('md5').update(b).digest('hex')
}

async function openLocal(path: string): Promise<FileHandle> {
  const fh = await open(path, fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK)
  if (!(await fh.stat()).isFile()) {
    await fh.close()
    throw new Error(`${path} is not a regular file`)
  }
  return fh
}

/** Bytes [from, to) of the file, each chunk also fed to `hash`. */
async function* hashed(fh: FileHandle, from: number, to: number, hash: ReturnType<typeof createHash>): AsyncGenerator<Buffer> {
  for (let at = from; at < to; ) {
    const buf = Buffer.allocUnsafe(Math.min(1 << 20, to - at))
    const { bytesRead } = await fh.read(buf, 0, buf.length, at)
    if (!bytesRead) return
    const b = buf.subarray(0, bytesRead)
    hash.update(b)
    at += bytesRead
    yield b
  }
}

/**
 * The written part of a WAL segment: pg_receivewal fills a new segment with zeros first, and every
 * written page starts with its header's magic (never zero), so the written pages are those before
 * the first page whose first two bytes are zero (a binary search: a dozen reads of 2 bytes).
 */
export async function walLength(fh: FileHandle): Promise<number> {
  const size = (await fh.stat()).size
  const pages = Math.floor(size / PAGE)
  const written = async (i: number) => {
    const b = Buffer.alloc(2)
    await fh.read(b, 0, 2, i * PAGE)
    return b[0] !== 0 || b[1] !== 0
  }
  let lo = 0
  let hi = pages
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if (await written(mid)) lo = mid + 1
    else hi = mid
  }
  return lo * PAGE
}
