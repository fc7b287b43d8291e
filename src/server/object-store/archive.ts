import { createHash, randomBytes } from 'node:crypto'
import { constants as fsc } from 'node:fs'
import { mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { dirname, join } from 'node:path'
import { GB } from '../../common/units.js'
import { ARCHIVE_HEADERS, ARCHIVE_OBJECT_NAME, SEGMENT_SIDECAR_SUFFIX, archiveDirOf, segmentSeqOf, type ArchiveSegment, type PitrSpec, type RestoreSpec } from '../../protocol/index.js'
import { readSidecars } from '../backups/archive-store.js'
import { Tasks } from '../db/tasks.js'
import type { Lab } from '../lab.js'
import { openObject, sendObject, StoreError, syncDir, writeObject } from './files.js'
import { archiveBytes, archiveCapBytes, archiveChanged, archiveGrew } from './archive-cap.js'

/**
 * The `archive` container of the object store (docs/pitr.md, "From a sandbox"): a sandboxed agent
 * ships its archiver's files into `<backups>/archive/<its id>/`, the layout of protocol/archive.ts,
 * and a restoring agent reads the part of a source's archive its create task names. Grants, from the
 * server's records only:
 * - PUT `archive/<own id>/<name>`, `name` an engine's file name (ARCHIVE_OBJECT_NAME, no sidecar), at
 *   most a segment's size. A sealing PUT (the claimed commit times in its headers) is written once: the
 *   server computes sha256, size and seq itself and writes the sidecar; a later PUT of that name is a
 *   409. The open segment (no sidecar yet) may be replaced or appended to until its segment is sealed.
 * - GET/HEAD `archive/<source>` (the list, JSON) and `archive/<source>/<name>`: only while this instance's
 *   running create restores to a point in time from that source, and only the files from the base
 *   backup's segment on (their sidecars, the open segment, timeline histories).
 * No DELETE: the archive is pruned by retention (tasks/expire-backups.ts), not by an agent.
 */

const forbidden = (m: string) => new StoreError(403, m)
/** wal_segment_size: the lab initialises PostgreSQL with the default. */
const WAL_SEGMENT = 16 << 20
const HISTORY_LIMIT = 1 << 20
const WAL = /^[0-9A-F]{24}(?:\.partial)?$/

/** One archive write of an instance at a time (an open object appended to, then sealed). */
const writing = new Map<string, Promise<unknown>>()

function serially<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const run = (writing.get(key) ?? Promise.resolve()).then(fn, fn)
  const settled = run.catch(() => undefined)
  writing.set(key, settled)
  void settled.then(() => {
    if (writing.get(key) === settled) writing.delete(key)
  })
  return run
}

/** The point-in-time restore of the instance's running create, if any. */
function runningPitr(lab: Lab, instanceId: string): PitrSpec | undefined {
  const task = new Tasks(lab.db).running(instanceId, 'create_instance')
  if (!task) return undefined
  try {
    return (JSON.parse(task.payload) as { restore?: RestoreSpec }).restore?.pitr
  } catch {
    return undefined
  }
}

/** The files of `dir` a restore from `fromSeq` on may read: sealed segments and their sidecars, the open one, histories. */
export async function readableNames(dir: string, fromSeq: number): Promise<string[]> {
  const names = await readdir(dir).catch(() => [] as string[])
  const sealed = readSidecars(dir)
  const sealedNames = new Set(sealed.map((s) => s.name))
  const out: string[] = []
  for (const s of sealed) if (s.present && s.seq >= fromSeq) out.push(s.name, s.name + SEGMENT_SIDECAR_SUFFIX)
  for (const n of names) {
    if (!ARCHIVE_OBJECT_NAME.test(n) || n.endsWith(SEGMENT_SIDECAR_SUFFIX)) continue
    if (n.endsWith('.history')) out.push(n)
    else if (!sealedNames.has(n.replace(/\.partial$/, '')) && (segmentSeqOf(n, WAL_SEGMENT) ?? -1) >= fromSeq) out.push(n)
  }
  return out.sort()
}

/** Serves one request of `instanceId` on `archive/<name>` (the name checked by validObjectName). */
export async function serveArchive(req: IncomingMessage, res: ServerResponse, lab: Lab, instanceId: string, name: string): Promise<void> {
  const [owner, file, ...more] = name.split('/')
  if (!owner || more.length) throw forbidden(`not an archive object: ${name}`)
  if (owner === instanceId) {
    if (req.method !== 'PUT') throw forbidden('an instance ships its own archive; it does not read or delete it')
    if (!file || !ARCHIVE_OBJECT_NAME.test(file) || file.endsWith(SEGMENT_SIDECAR_SUFFIX)) throw forbidden(`not an archive segment name: ${file ?? ''}`)
    return serially(instanceId, () => put(req, res, lab, instanceId, file))
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') throw forbidden(`archive ${owner} is not this instance's`)
  const dir = archiveDirOf(lab.compute.backupsDir, owner)
  const pitr = runningPitr(lab, instanceId)
  if (!pitr || pitr.archiveDir !== dir) throw forbidden(`archive ${owner} is not the one this instance restores from`)
  const allowed = await readableNames(dir, pitr.start.seq)
  if (file === undefined) {
    const body = Buffer.from(JSON.stringify({ names: allowed }))
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': String(body.length) })
    res.end(req.method === 'HEAD' ? undefined : body)
    return
  }
  if (!allowed.includes(file)) throw forbidden(`archive object ${file} is not in the range this instance restores`)
  await sendObject(req, res, join(dir, file))
}

/** A claimed commit time: ISO 8601 or '' (none); anything else refused. */
function claimedTime(v: string | string[] | undefined, what: string): string | null {
  if (typeof v !== 'string' || v === '') return null
  if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?Z$/.test(v) || Number.isNaN(Date.parse(v))) throw new StoreError(400, `${what}: not an ISO 8601 UTC time`)
  return v
}

async function put(req: IncomingMessage, res: ServerResponse, lab: Lab, instanceId: string, file: string): Promise<void> {
  const dir = archiveDirOf(lab.compute.backupsDir, instanceId)
  await mkdir(dirname(dir), { recursive: true, mode: 0o711 })
  await mkdir(dir, { recursive: true, mode: 0o700 })
  const path = join(dir, file)
  const base = file.replace(/\.partial$/, '')
  const history = file.endsWith('.history')
  const sidecar = join(dir, base + SEGMENT_SIDECAR_SUFFIX)
  const sealing = req.headers[ARCHIVE_HEADERS.lastTime] !== undefined
  const first = claimedTime(req.headers[ARCHIVE_HEADERS.firstTime], 'first commit time')
  const last = claimedTime(req.headers[ARCHIVE_HEADERS.lastTime], 'last commit time')
  const offsetHeader = req.headers[ARCHIVE_HEADERS.offset]
  if (sealing && file !== base) throw new StoreError(400, `${file} is an open segment: it is not sealed under that name`)
  if (history && (sealing || offsetHeader !== undefined)) throw new StoreError(400, 'a timeline history is written whole, once')
  if (await exists(sidecar)) throw new StoreError(409, `segment ${base} is stored already (a sealed segment is written once)`)
  const volumeGb = lab.instances.get(instanceId)?.volume_size ?? 1
  const segmentLimit = history ? HISTORY_LIMIT : WAL.test(file) ? WAL_SEGMENT : volumeGb * GB
  const declared = Number(req.headers['content-length'] ?? NaN)
  if (declared > segmentLimit) throw new StoreError(413, `object too large: ${declared} bytes, a segment is at most ${segmentLimit}`)
  const etag = () => {
    const v = req.headers.etag ?? req.trailers.etag
    return typeof v === 'string' ? v.replace(/"/g, '') : undefined
  }
  const stored = req.headers[ARCHIVE_HEADERS.sha256]
  if (sealing && typeof stored === 'string') {
    req.resume()
    const seg = await sealStored(dir, file, stored, first, last)
    archiveChanged(dir)
    res.writeHead(201, { 'Content-Length': '0' })
    res.end()
    return void seg
  }
  // The instance's whole archive under its cap (archive-cap.ts), for what adds bytes (a seal of the stored open
  // object adds none): an open object replaced or appended to counts once.
  const cap = archiveCapBytes(volumeGb)
  const held = await archiveBytes(dir)
  const sizeOf = async (p: string) => (await stat(p).catch(() => undefined))?.size ?? 0
  // A WAL segment sent whole replaces its open object (removed once it is sealed).
  const before = (await sizeOf(path)) + (sealing && WAL.test(file) ? await sizeOf(`${path}.partial`) : 0)
  // A seal may always write what it replaces (its open object): the archive does not grow by it.
  const limit = Math.min(segmentLimit, Math.max(before + cap.bytes - held, sealing ? before : 0))
  const full = () =>
    new StoreError(
      507,
      `the archive of instance ${instanceId} holds ${held} bytes, at its cap of ${cap.bytes} (${cap.factor} x its ${volumeGb} GB volume): no more is stored until retention removes older segments`,
    )
  const end = offsetHeader !== undefined ? Number(offsetHeader) + declared : declared
  if ((!sealing && limit <= before) || end > limit) {
    req.resume()
    throw full()
  }
  // A body of undeclared length (the shipper streams files) meets the cap while it arrives: the same 507, not
  // the write's 413 (the shipper waits after a 507; it would send the segment again every pass after a 413).
  const overCap = (e: unknown): never => {
    throw limit < segmentLimit && e instanceof StoreError && e.status === 413 ? full() : e
  }
  if (offsetHeader !== undefined) {
    if (sealing) throw new StoreError(400, 'a sealed segment is written whole')
    const offset = Number(offsetHeader)
    if (!Number.isSafeInteger(offset) || offset < 0) throw new StoreError(400, `bad ${ARCHIVE_HEADERS.offset}`)
    const r = await appendObject(path, req, offset, limit, etag).catch(overCap)
    archiveGrew(dir, r.bytes - before)
    res.writeHead(201, { ETag: r.etag, 'Content-Length': '0' })
    res.end()
    return
  }
  const r = await writeObject(path, req, { limit, etag, overwrite: !history, sha256: sealing }).catch(overCap)
  archiveGrew(dir, r.bytes - before)
  if (sealing) {
    // The seq from the name (and, for WAL, the segment size from the bytes): never the agent's word.
    const wal = WAL.test(file)
    const seq = wal && (r.bytes < 1 << 20 || (r.bytes & (r.bytes - 1)) !== 0) ? undefined : segmentSeqOf(file, wal ? r.bytes : undefined)
    if (seq === undefined) {
      await rm(path, { force: true })
      archiveChanged(dir)
      throw new StoreError(422, `${file} of ${r.bytes} bytes is not a whole segment`)
    }
    const seg: ArchiveSegment = { name: file, seq, sha256: r.sha256, bytes: r.bytes, first_time: first, last_time: last }
    await writeSidecar(sidecar, seg)
    if (wal) await rm(`${path}.partial`, { force: true })
    await syncDir(dir)
    archiveChanged(dir)
  }
  res.writeHead(201, { ETag: r.etag, 'Content-Length': '0' })
  res.end()
}

/**
 * Seals the open object the store holds (the agent sent no bytes): its sha256 computed here over the
 * server's own file must be the one the agent's sidecar has (else 409: the agent sends it whole); a
 * WAL segment's `.partial` is renamed to its name. Then the sidecar, as for a segment sent whole.
 */
async function sealStored(dir: string, file: string, claimed: string, first: string | null, last: string | null): Promise<ArchiveSegment> {
  const wal = WAL.test(file)
  const from = join(dir, wal ? `${file}.partial` : file)
  const { fh, size } = await openObject(from).catch(() => {
    throw new StoreError(409, `no open segment ${file} to seal: send it whole`)
  })
  const hash = createHash('sha256')
  try {
    const buf = Buffer.allocUnsafe(1 << 20)
    for (let n = 1; n > 0; ) {
      n = (await fh.read(buf, 0, buf.length, null)).bytesRead
      hash.update(buf.subarray(0, n))
    }
  } finally {
    await fh.close()
  }
  const sha256 = hash.digest('hex')
  const seq = wal && (size < 1 << 20 || (size & (size - 1)) !== 0) ? undefined : segmentSeqOf(file, wal ? size : undefined)
  if (sha256 !== claimed || seq === undefined) throw new StoreError(409, `the stored open segment ${file} is not the sealed one (sha256 ${sha256}, ${size} bytes): send it whole`)
  if (wal) await rename(from, join(dir, file))
  const seg: ArchiveSegment = { name: file, seq, sha256, bytes: size, first_time: first, last_time: last }
  await writeSidecar(join(dir, file + SEGMENT_SIDECAR_SUFFIX), seg)
  await syncDir(dir)
  return seg
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  )
}

/** The sidecar, the server's own file: a new temporary file (O_EXCL|O_NOFOLLOW), fsync, rename. */
async function writeSidecar(path: string, seg: ArchiveSegment): Promise<void> {
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`
  const fh = await open(tmp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, 0o600)
  try {
    await fh.writeFile(JSON.stringify(seg) + '\n')
    await fh.sync()
  } finally {
    await fh.close()
  }
  await rename(tmp, path)
}

/**
 * Appends the body to the open object at `offset` (which it must reach): the open segment is a prefix
 * of the log that only grows, so what it held past `offset` is the same bytes again, and an append cut
 * short leaves a shorter prefix, never a wrong byte. Replayed only up to its last whole record.
 */
async function appendObject(path: string, body: IncomingMessage, offset: number, limit: number, etag: () => string | undefined): Promise<{ etag: string; bytes: number }> {
  const fh = await open(path, fsc.O_WRONLY | fsc.O_NOFOLLOW).catch((e: NodeJS.ErrnoException) => {
    throw e.code === 'ENOENT' ? new StoreError(409, 'no open segment of that name to append to') : e
  })
  try {
    const st = await fh.stat()
    if (!st.isFile() || st.size < offset) throw new StoreError(409, `the open segment holds ${st.size} bytes, less than the offset ${offset}`)
    const hash = createHash('md5')
    let at = offset
    for await (const chunk of body) {
      const b = chunk as Buffer
      if (at + b.length > limit) throw new StoreError(413, `object too large: more than a segment's ${limit} bytes`)
      hash.update(b)
      await fh.write(b, 0, b.length, at)
      at += b.length
    }
    const md5 = hash.digest('hex')
    const claimed = etag()
    if (claimed !== undefined && claimed !== md5) {
      await fh.truncate(offset)
      throw new StoreError(422, `checksum mismatch: the agent sent MD5 ${claimed}, the server received ${md5}`)
    }
    if (at < st.size) await fh.truncate(at)
    await fh.sync()
    return { etag: md5, bytes: at }
  } finally {
    await fh.close()
  }
}
