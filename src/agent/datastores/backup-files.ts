import { spawn } from 'node:child_process'
import { createHash, type Hash } from 'node:crypto'
import { createReadStream, createWriteStream } from 'node:fs'
import { access, cp, open, readdir, readFile, rename, rm, stat, writeFile, type FileHandle } from 'node:fs/promises'
import { basename, dirname, join, resolve } from 'node:path'
import { PassThrough, Readable, type Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { BACKUP_CONTAINER, BACKUP_META_SUFFIX, type RestoreSpec } from '../../protocol/index.js'
import { objectStore, type ObjectStore } from '../object-store.js'
import { ENGINE_ENV, oneLine, wrapperArgs } from '../engine-process.js'
import type { EngineCommand, RunUser } from './context.js'
import { setTimeout as sleep } from 'node:timers/promises'

/**
 * The guest's side of the directory store (see src/server/compute/backup-store.ts).
 * A backup: the engine's tool writes straight into `<id><ext>.tmp` (its stdout is the
 * file: no copy through the agent), while the agent reads behind it to compute the
 * MD5 and flushes it to disk as it grows; then the last fsync, rename, fsync of the
 * directory. A restore: the tool reads the backup file itself (its stdin is the file)
 * and unpacks into a scratch dir while the agent checks the file's MD5 beside it; only
 * a file that matches its recorded MD5 gets anywhere near the data dir. Files are
 * root's, 0600, in the store's 0700 directory.
 *
 * In a sandbox the store's directory is out of the agent's sight: `dir` is then only the name the
 * server's store has in the bootstrap (`backupDir`), and every function here streams through the
 * server's object store instead (../object-store.ts): the tool's stdout straight into a PUT, a GET
 * straight into the unpacking tool, MD5 on the way both times. Same signatures, same results.
 */

/** The object store when `dir` names its backup store (a sandbox); undefined: the directory store. */
function remoteFor(dir: string): ObjectStore | undefined {
  const s = objectStore()
  return s?.o.backupDir && resolve(dir) === resolve(s.o.backupDir) ? s : undefined
}

/** The object store and object name of a chain file in a sandbox. */
function remoteFile(location: string): { s: ObjectStore; name: string } | undefined {
  const s = remoteFor(dirname(location))
  return s ? { s, name: basename(location) } : undefined
}

/** Chunks of `from`, each also fed to `hash` and counted. */
async function* hashing(from: AsyncIterable<Buffer>, hash: Hash, count: (n: number) => void): AsyncGenerator<Buffer> {
  for await (const c of from) {
    hash.update(c)
    count(c.length)
    yield c
  }
}

/** GET of a chain file, or the missing-file error. */
async function getChainFile(b: ChainFile, r: { s: ObjectStore; name: string }): Promise<Readable> {
  const body = await r.s.get(BACKUP_CONTAINER, r.name)
  if (!body) throw new BackupError(`backup ${b.id}: its file ${b.location} is missing from the backup store`)
  return body
}

/** A finished backup file. */
export interface StoredBackup {
  location: string
  checksum: string
  bytes: number
}

/** What a tool run as a stream produced besides its stdout. */
export interface StreamedTool {
  code: number | null
  signal: NodeJS.Signals | null
  /** The tail of its stderr (progress and errors). */
  stderr: string
}

/** A backup or restore step failed; the message is fit for the backup's or instance's fault. */
export class BackupError extends Error {}

const CHUNK = 1 << 20
/** While a backup file grows, its data is flushed to disk every this many bytes (the last fsync then has little left). */
const SYNC_EVERY = 8 << 20

/** A tool's stdin or stdout: a stream through the agent, a file descriptor, or nothing. */
type Io = Readable | number | undefined

/**
 * Runs a tool (as the run user when `asUser`). stdin: `input`, a file path (opened by
 * the agent, so the tool needs no access to it, and read by the tool itself), an open
 * descriptor or a stream; stdout: an open descriptor (`stdoutFd`), handed to `sink`,
 * or discarded.
 */
export async function streamTool(
  cmd: EngineCommand,
  user: RunUser,
  o: { input?: string | number | Readable; stdoutFd?: number; sink?: (stdout: Readable) => Promise<unknown> } = {},
): Promise<StreamedTool> {
  let opened: FileHandle | undefined
  try {
    let stdin: Io
    if (typeof o.input === 'string') {
      opened = await open(o.input, 'r')
      stdin = opened.fd
    } else stdin = o.input
    const child = spawn('/bin/sh', wrapperArgs(cmd, user, []), {
      stdio: [stdin === undefined ? 'ignore' : typeof stdin === 'number' ? stdin : 'pipe', o.stdoutFd ?? (o.sink ? 'pipe' : 'ignore'), 'pipe'],
      env: ENGINE_ENV,
    })
    let stderr = ''
    child.stderr!.on('data', (b: Buffer) => {
      stderr = (stderr + b.toString()).slice(-16_384)
    })
    const closed = new Promise<StreamedTool>((resolve) => {
      child.once('error', (err) => resolve({ code: -1, signal: null, stderr: err.message }))
      child.once('close', (code, signal) => resolve({ code, signal, stderr }))
    })
    // The descriptor is the child's now.
    await opened?.close()
    opened = undefined
    const work: Array<Promise<unknown>> = []
    if (stdin !== undefined && typeof stdin !== 'number') {
      // A tool that exits early closes its stdin: that is its exit code's to report, not EPIPE's.
      work.push(pipeline(stdin, child.stdin as Writable).catch(() => undefined))
    }
    if (o.sink) work.push(o.sink(child.stdout!))
    let sinkError: unknown
    try {
      await Promise.all(work)
    } catch (e) {
      sinkError = e
      child.kill('SIGTERM')
    }
    const r = await closed
    if (sinkError) throw sinkError
    return r
  } finally {
    await opened?.close()
  }
}

/** Throws unless the store `dir` can be reached: the directory (isolation none), or the object store that stands for it. */
export async function checkStore(dir: string): Promise<void> {
  if (!remoteFor(dir)) await access(dir)
}

/** Throws a BackupError naming the tool and its last error line unless it exited 0. */
export function checkTool(what: string, r: StreamedTool): void {
  if (r.code === 0) return
  const lines = r.stderr
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
  const why = [...lines].reverse().find((l) => /error|fatal|failed|denied|cannot|could not/i.test(l)) ?? lines[lines.length - 1] ?? `exit code ${r.code ?? r.signal}`
  throw new BackupError(`${what} failed: ${oneLine(why)}`)
}

/** Path of a store file of backup `id`. */
export const storePath = (dir: string, id: string, ext: string): string => join(dir, `${id}${ext}`)

/**
 * Reads `fd` from `pos` on while another process appends to it, into `hash`, until
 * `finished` (the writer exited) and the end is reached. A regular file's size grows
 * only after the bytes below it are in the page cache, so everything read is final.
 * `onProgress` sees the byte count as it grows.
 */
async function hashBehind(fh: FileHandle, hash: Hash, finished: Promise<unknown>, onProgress?: (bytes: number) => void): Promise<number> {
  let done = false
  void finished.then(
    () => {
      done = true
    },
    () => {
      done = true
    },
  )
  const buf = Buffer.allocUnsafe(CHUNK)
  let pos = 0
  for (;;) {
    const last = done
    const { bytesRead } = await fh.read(buf, 0, CHUNK, pos)
    if (bytesRead > 0) {
      hash.update(buf.subarray(0, bytesRead))
      pos += bytesRead
      onProgress?.(pos)
      continue
    }
    if (last) return pos
    await Promise.race([finished, sleep(2)]).catch(() => undefined)
  }
}

/** Flushes `fh` to disk every SYNC_EVERY bytes while it grows (one flush at a time). */
function rollingSync(fh: FileHandle): { progress: (bytes: number) => void; settled: () => Promise<void> } {
  let synced = 0
  let running: Promise<void> | undefined
  let failed: unknown
  return {
    progress(bytes) {
      if (running || bytes - synced < SYNC_EVERY) return
      synced = bytes
      running = fh
        .datasync()
        .catch((e: unknown) => {
          failed = e
        })
        .finally(() => {
          running = undefined
        })
    },
    async settled() {
      await running
      if (failed) throw failed
    },
  }
}

/**
 * Runs a backup tool with its stdout straight into the store file `<id><ext>`: `.tmp`
 * first (0600), MD5 read behind the tool, flushed as it grows, fsync, and, when the
 * tool exits 0, rename and fsync of the directory. The caller checks `tool` (checkTool)
 * and removes the `.tmp` of a failed run (removePartial).
 */
export async function toolToStore(cmd: EngineCommand, user: RunUser, dir: string, id: string, ext: string): Promise<{ tool: StreamedTool; stored: StoredBackup }> {
  const remote = remoteFor(dir)
  if (remote) return toolToObject(remote, cmd, user, dir, id, ext)
  const final = storePath(dir, id, ext)
  const tmp = `${final}.tmp`
  const out = await open(tmp, 'w', 0o600)
  let reader: FileHandle | undefined
  try {
    reader = await open(tmp, 'r')
    const hash = createHash('md5')
    const flush = rollingSync(out)
    const tool = streamTool(cmd, user, { stdoutFd: out.fd })
    const hashed = hashBehind(reader, hash, tool, flush.progress)
    hashed.catch(() => undefined)
    // The tool first, whatever happens to the reading: it is never left running behind.
    const r = await tool
    const bytes = await hashed
    await flush.settled()
    const stored = { location: final, checksum: hash.digest('hex'), bytes }
    if (r.code !== 0) return { tool: r, stored }
    await out.sync()
    await out.close()
    await rename(tmp, final)
    await syncDir(dir)
    return { tool: r, stored }
  } finally {
    await reader?.close()
    await out.close().catch(() => undefined)
  }
}

/**
 * toolToStore in a sandbox: the tool's stdout streamed into a PUT of `<id><ext>`, MD5 on the way; the
 * upload is committed (its MD5 sent as the ETag trailer) only when the tool exited 0, else aborted,
 * so the server names nothing. A refusal (over the limit) stops the tool.
 */
async function toolToObject(s: ObjectStore, cmd: EngineCommand, user: RunUser, dir: string, id: string, ext: string): Promise<{ tool: StreamedTool; stored: StoredBackup }> {
  const hash = createHash('md5')
  let bytes = 0
  let digest: string | undefined
  const md5 = () => (digest ??= hash.digest('hex'))
  let decide!: (ok: boolean) => void
  const decision = new Promise<boolean>((r) => (decide = r))
  let put: Promise<string> | undefined
  const tool = await streamTool(cmd, user, {
    sink: (stdout) =>
      new Promise<void>((done, failed) => {
        async function* body(): AsyncGenerator<Buffer> {
          try {
            yield* hashing(stdout, hash, (n) => (bytes += n))
          } finally {
            // Left early (the server refused): the tool gets EPIPE rather than a full pipe forever.
            if (!stdout.readableEnded) stdout.destroy()
            done()
          }
        }
        put = s.put(BACKUP_CONTAINER, `${id}${ext}`, body(), md5, () => decision)
        put.catch(failed)
      }),
  }).catch((e: unknown) => {
    decide(false)
    throw e
  })
  decide(tool.code === 0)
  const etag = await put!
  const checksum = md5()
  if (tool.code === 0 && etag !== checksum) throw new BackupError(`the object store stored ${id}${ext} with MD5 ${etag}, the agent sent ${checksum}`)
  return { tool, stored: { location: storePath(dir, id, ext), checksum, bytes } }
}

/**
 * Copies the file `src` (opened once: a file renamed over it meanwhile does not
 * matter) into the store as `<id><ext>`, MD5 on the way, fsync, rename, fsync of the
 * directory.
 */
export async function fileToStore(src: string, dir: string, id: string, ext: string): Promise<StoredBackup> {
  const remote = remoteFor(dir)
  if (remote) {
    const hash = createHash('md5')
    let bytes = 0
    let digest: string | undefined
    const md5 = () => (digest ??= hash.digest('hex'))
    const etag = await remote.put(
      BACKUP_CONTAINER,
      `${id}${ext}`,
      hashing(createReadStream(src, { highWaterMark: CHUNK }), hash, (n) => (bytes += n)),
      md5,
    )
    if (etag !== md5()) throw new BackupError(`the object store stored ${id}${ext} with MD5 ${etag}, the agent sent ${md5()}`)
    return { location: storePath(dir, id, ext), checksum: etag, bytes }
  }
  const final = storePath(dir, id, ext)
  const tmp = `${final}.tmp`
  const hash = createHash('md5')
  const bytes = await copyHashing(src, tmp, hash, 0o600)
  await rename(tmp, final)
  await syncDir(dir)
  return { location: final, checksum: hash.digest('hex'), bytes }
}

/** Copies src to dest (created with `mode`), MD5 into `hash`, fsync of dest; returns the byte count. */
async function copyHashing(src: string, dest: string, hash: Hash, mode: number): Promise<number> {
  const from = await open(src, 'r')
  try {
    const to = await open(dest, 'w', mode)
    try {
      const buf = Buffer.allocUnsafe(CHUNK)
      let bytes = 0
      for (;;) {
        const { bytesRead } = await from.read(buf, 0, CHUNK, null)
        if (!bytesRead) break
        hash.update(buf.subarray(0, bytesRead))
        await to.write(buf, 0, bytesRead)
        bytes += bytesRead
      }
      await to.sync()
      return bytes
    } finally {
      await to.close()
    }
  } finally {
    await from.close()
  }
}

async function syncDir(dir: string): Promise<void> {
  const d = await open(dir, 'r')
  try {
    await d.sync()
  } finally {
    await d.close()
  }
}

/** Removes whatever a failed backup left in the store. */
export async function removePartial(dir: string, id: string, exts: string[]): Promise<void> {
  const remote = remoteFor(dir)
  if (remote) {
    for (const ext of [...exts, BACKUP_META_SUFFIX]) await remote.remove(BACKUP_CONTAINER, `${id}${ext}`).catch(() => undefined)
    return
  }
  for (const ext of exts) {
    await rm(storePath(dir, id, ext) + '.tmp', { force: true })
    await rm(storePath(dir, id, ext), { force: true })
  }
  await rm(storePath(dir, id, BACKUP_META_SUFFIX) + '.tmp', { force: true })
}

/** The backup's metadata beside its data (0600, written atomically). */
export async function writeMeta(dir: string, id: string, meta: Record<string, unknown>): Promise<void> {
  const remote = remoteFor(dir)
  if (remote) {
    const text = Buffer.from(JSON.stringify(meta, null, 2) + '\n')
    await remote.put(BACKUP_CONTAINER, `${id}${BACKUP_META_SUFFIX}`, text, () => createHash('md5').update(text).digest('hex'))
    return
  }
  const final = storePath(dir, id, BACKUP_META_SUFFIX)
  await writeFile(final + '.tmp', JSON.stringify(meta, null, 2) + '\n', { mode: 0o600 })
  await rename(final + '.tmp', final)
}

export async function readMeta<T = Record<string, unknown>>(dir: string, id: string): Promise<T | undefined> {
  const remote = remoteFor(dir)
  try {
    if (remote) {
      const body = await remote.get(BACKUP_CONTAINER, `${id}${BACKUP_META_SUFFIX}`)
      if (!body) return undefined
      const parts: Buffer[] = []
      for await (const c of body) parts.push(c as Buffer)
      return JSON.parse(Buffer.concat(parts).toString('utf8')) as T
    }
    return JSON.parse(await readFile(storePath(dir, id, BACKUP_META_SUFFIX), 'utf8')) as T
  } catch {
    return undefined
  }
}

/** The metadata file of the backup at `location` (same directory, same id). */
export async function metaFor<T = Record<string, unknown>>(location: string, id: string): Promise<T | undefined> {
  return readMeta<T>(join(location, '..'), id)
}

/** MD5 of a file (1 MiB reads). */
export async function md5File(path: string): Promise<string> {
  const fh = await open(path, 'r')
  try {
    const hash = createHash('md5')
    const buf = Buffer.allocUnsafe(CHUNK)
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, CHUNK, null)
      if (!bytesRead) return hash.digest('hex')
      hash.update(buf.subarray(0, bytesRead))
    }
  } finally {
    await fh.close()
  }
}

/** One file of a restore chain. */
export type ChainFile = RestoreSpec['chain'][number]

async function checkPresent(b: ChainFile): Promise<void> {
  const r = remoteFile(b.location)
  if (r) {
    if ((await r.s.size(BACKUP_CONTAINER, r.name)) === undefined) throw new BackupError(`backup ${b.id}: its file ${b.location} is missing from the backup store`)
    return
  }
  const s = await stat(b.location).catch(() => undefined)
  if (!s?.isFile()) throw new BackupError(`backup ${b.id}: its file ${b.location} is missing from the backup store`)
}

/** Resolves when `w` wants more or is gone (the tool it feeds stopped reading). */
function drainedOrClosed(w: PassThrough): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      w.off('drain', done)
      w.off('close', done)
      resolve()
    }
    w.on('drain', done)
    w.on('close', done)
  })
}

function mismatch(b: ChainFile, actual: string): BackupError {
  return new BackupError(`backup ${b.id} failed its checksum verification: ${b.location} has MD5 checksum ${actual}, expected ${b.checksum}; nothing was restored`)
}

/**
 * Every file of the chain against its recorded MD5, before the data dir is touched.
 * A mismatch fails the restore with a fault naming the backup and both checksums.
 */
export async function verifyChain(spec: RestoreSpec): Promise<void> {
  if (!spec.chain.length) throw new BackupError(`backup ${spec.backupId} has no files to restore`)
  await Promise.all(
    spec.chain.map(async (b) => {
      const r = remoteFile(b.location)
      if (r) {
        const hash = createHash('md5')
        for await (const c of await getChainFile(b, r)) hash.update(c as Buffer)
        const actual = hash.digest('hex')
        if (actual !== b.checksum) throw mismatch(b, actual)
        return
      }
      await checkPresent(b)
      const actual = await md5File(b.location)
      if (actual !== b.checksum) throw mismatch(b, actual)
    }),
  )
}

/**
 * Unpacks backup file `b` with a tool that reads it on its stdin and writes only into
 * a scratch directory (never the data dir), while its MD5 is checked beside it: one
 * pass over the file instead of a check first and an unpack after. A mismatch is the
 * error (whatever the tool made of the damaged file); then the tool's exit code.
 */
export async function unpackVerified(b: ChainFile, what: string, cmd: EngineCommand, user: RunUser): Promise<void> {
  const remote = remoteFile(b.location)
  if (remote) {
    // The GET streamed into the tool's stdin, MD5 on the way: one pass, no copy on the volume. The body is read
    // here to its end whatever the tool does: a tool that gives up on a damaged file ends its stdin (the pipe
    // then closes), and the checksum of the whole file is what the fault names, not the pipe's "aborted".
    const hash = createHash('md5')
    const body = await getChainFile(b, remote)
    const toTool = new PassThrough()
    const fed = (async () => {
      try {
        for await (const c of body) {
          hash.update(c as Buffer)
          if (!toTool.destroyed && !toTool.write(c)) await drainedOrClosed(toTool)
        }
        if (!toTool.destroyed) toTool.end()
      } catch (e) {
        toTool.destroy()
        return e
      }
    })()
    const r = await streamTool(cmd, user, { input: toTool })
    const failed = await fed
    if (failed) throw failed
    const actual = hash.digest('hex')
    if (actual !== b.checksum) throw mismatch(b, actual)
    checkTool(what, r)
    return
  }
  await checkPresent(b)
  const [r, actual] = await Promise.all([streamTool(cmd, user, { input: b.location }), md5File(b.location)])
  if (actual !== b.checksum) throw mismatch(b, actual)
  checkTool(what, r)
}

/** Copies backup file `b` to `dest` (mode 0600), MD5 checked on the way; a mismatch removes dest and throws. */
export async function copyVerified(b: ChainFile, dest: string): Promise<void> {
  const hash = createHash('md5')
  const remote = remoteFile(b.location)
  if (remote) {
    const body = await getChainFile(b, remote)
    await pipeline(Readable.from(hashing(body, hash, () => undefined)), createWriteStream(dest, { mode: 0o600, flags: 'wx' }))
  } else {
    await checkPresent(b)
    await copyHashing(b.location, dest, hash, 0o600)
  }
  const actual = hash.digest('hex')
  if (actual !== b.checksum) {
    await rm(dest, { force: true })
    throw mismatch(b, actual)
  }
}

/**
 * Moves `from` (a file or directory) to `to`: a rename (the scratch dir and the data dir
 * share the instance's filesystem), or a copy keeping owners and modes, then removal,
 * when they do not.
 */
export async function move(from: string, to: string): Promise<void> {
  try {
    await rename(from, to)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EXDEV') throw e
    await cp(from, to, { recursive: true, preserveTimestamps: true, verbatimSymlinks: true, errorOnExist: true, force: false })
    await rm(from, { recursive: true, force: true })
  }
}

/** Moves every entry of directory `from` into directory `to`. */
export async function moveEntries(from: string, to: string): Promise<void> {
  for (const name of await readdir(from)) await move(join(from, name), join(to, name))
}
