import { createHash, randomBytes } from 'node:crypto'
import { constants as fsc } from 'node:fs'
import { link, open, readdir, rename, rm, stat, statfs, unlink, type FileHandle } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { Transform, Writable, type Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { IncomingMessage, ServerResponse } from 'node:http'

/** A refusal with its HTTP status (Swift's: 403, 404, 409, 413, 422). */
export class StoreError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message)
  }
}

/** What the store's filesystem keeps free whatever an object's limit says (the lab's database, logs, other labs). */
const KEEP_FREE = 256 << 20

/**
 * Writes `body` as the object file `final`, the server's own file: a new temporary file beside it
 * (O_CREAT|O_EXCL|O_NOFOLLOW, 0600: nothing planted under that name is opened), the MD5 computed here
 * while the bytes arrive, at most `limit` bytes (and never the store's last KEEP_FREE), fsync, the
 * agent's claimed MD5 (`etag`) compared, then linked to its name (write-once: an existing object is a
 * 409) or renamed over it (`overwrite`), and the directory fsynced. Anything short of that removes the
 * temporary file: no half-written object ever has a name.
 */
export async function writeObject(
  final: string,
  body: Readable,
  o: { limit: number; etag: () => string | undefined; overwrite: boolean; sha256?: boolean },
): Promise<{ etag: string; bytes: number; sha256: string }> {
  const dir = dirname(final)
  const fs = await statfs(dir)
  const limit = Math.min(o.limit, Math.max(0, fs.bavail * fs.bsize - KEEP_FREE))
  const tmp = `${final}.${randomBytes(6).toString('hex')}.tmp`
  const fh = await open(tmp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, 0o600)
  const hash = createHash('md5')
  // The archive's sidecars record the server's own sha256 of a segment (object-store/archive.ts): on request.
  const sha = o.sha256 ? createHash('sha256') : undefined
  let bytes = 0
  let named = false
  try {
    const count = new Transform({
      transform(chunk: Buffer, _enc, done) {
        bytes += chunk.length
        if (bytes > limit) return done(new StoreError(413, `object too large: more than its limit of ${limit} bytes`))
        hash.update(chunk)
        sha?.update(chunk)
        done(null, chunk)
      },
    })
    // Not pipeline(body, ...): a refusal would destroy the request, and with it the socket the 413 goes out on.
    body.once('error', (e) => count.destroy(e))
    body.once('close', () => {
      if (!body.readableEnded) count.destroy(new StoreError(400, 'the upload was cut short'))
    })
    body.pipe(count)
    // Writes through the handle (not fh.createWriteStream, whose reference would keep fh.close() waiting).
    // TLS hands the body over in records of ~16 KiB: buffered up to 1 MiB and written together (writev).
    const file = new Writable({
      highWaterMark: 1 << 20,
      write(chunk: Buffer, _enc, done) {
        fh.write(chunk).then(() => done(), done)
      },
      writev(chunks, done) {
        fh.writev(chunks.map((c) => c.chunk as Buffer)).then(() => done(), done)
      },
    })
    await pipeline(count, file)
    await fh.sync()
    const etag = hash.digest('hex')
    const claimed = o.etag()
    if (claimed !== undefined && claimed !== etag) throw new StoreError(422, `checksum mismatch: the agent sent MD5 ${claimed}, the server received ${etag}`)
    if (o.overwrite) await rename(tmp, final)
    else {
      await link(tmp, final).catch((e: NodeJS.ErrnoException) => {
        throw e.code === 'EEXIST' ? new StoreError(409, 'the object exists already (objects are written once)') : e
      })
      await unlink(tmp)
    }
    named = true
    await syncDir(dir)
    return { etag, bytes, sha256: sha?.digest('hex') ?? '' }
  } finally {
    await fh.close().catch(() => undefined)
    if (!named) await rm(tmp, { force: true })
  }
}

/** Opens an object for reading: a regular file, never through a link. */
export async function openObject(path: string): Promise<{ fh: FileHandle; size: number }> {
  let fh: FileHandle
  try {
    fh = await open(path, fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK)
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    if (code === 'ENOENT' || code === 'ELOOP' || code === 'ENOTDIR') throw new StoreError(404, 'no such object')
    throw e
  }
  const st = await fh.stat()
  if (!st.isFile()) {
    await fh.close()
    throw new StoreError(404, 'no such object')
  }
  return { fh, size: st.size }
}

/**
 * Answers a GET or HEAD of the object at `path` with exactly the bytes its Content-Length names: an
 * open archive segment grows while it is read (appends), and bytes past the length would be read by
 * the client as the start of its next response on the kept-alive connection ("Expected HTTP/").
 * Should it shrink meanwhile (an append refused and cut back), the connection is dropped rather than
 * left waiting for bytes that never come.
 */
export async function sendObject(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
  const { fh, size } = await openObject(path)
  res.strictContentLength = true
  res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(size) })
  if (req.method === 'HEAD' || size === 0) {
    await fh.close()
    res.end()
    return
  }
  let sent = 0
  const count = new Transform({
    transform(chunk: Buffer, _enc, done) {
      sent += chunk.length
      done(null, chunk)
    },
    flush(done) {
      done(sent === size ? null : new Error(`the object shrank while it was read (${sent} of ${size} bytes)`))
    },
  })
  await pipeline(fh.createReadStream({ start: 0, end: size - 1 }), count, res) // the stream closes the handle
}

/** Bytes of the files under `dir` whose names start with `prefix` (recursively when `deep`). */
export async function bytesUnder(dir: string, prefix = '', deep = false): Promise<number> {
  let total = 0
  let entries
  try {
    entries = await readdir(dir, { withFileTypes: true })
  } catch {
    return 0
  }
  for (const e of entries) {
    if (!e.name.startsWith(prefix)) continue
    const p = join(dir, e.name)
    if (e.isDirectory() && deep) total += await bytesUnder(p, '', true)
    else if (e.isFile()) total += (await stat(p).catch(() => ({ size: 0 }))).size
  }
  return total
}

export async function syncDir(dir: string): Promise<void> {
  const d = await open(dir, 'r')
  try {
    await d.sync()
  } finally {
    await d.close()
  }
}
