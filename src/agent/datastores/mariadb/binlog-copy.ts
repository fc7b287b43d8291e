/**
 * The binlog tail's copying (archive.ts): the archive's copy of one of the server's binlog files
 * grown by the bytes the server has whole, read from the data dir and appended (never through
 * a link, either side), checked to be a prefix of the server's file before it first grows in a
 * run, and written with the format description's in-use flag cleared, so that its bytes never
 * change once written and a whole copy is the server's closed file.
 */
import { constants as fsc } from 'node:fs'
import { open, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import type { RunUser } from '../types.js'

/** Bytes read and written at a time. */
const CHUNK = 1 << 20
/** How much of a copy's end is compared with the server's file before the first append to it in a run. */
const PREFIX_CHECK = 4096
/** The format description's flags, LOG_EVENT_BINLOG_IN_USE_F their bit 0: byte 21 of a binlog file (4 + 17). */
const FLAGS_BYTE = 21
/** An archive file: never a link (the archive dir is the run user's), never waited on (a FIFO planted there). */
const ARCHIVE_FILE = fsc.O_RDWR | fsc.O_NOFOLLOW | fsc.O_NONBLOCK

/** Where a copy grows from and into (archive.ts, the binlog tail). */
export interface CopySides {
  archiveDir: string
  /** The server's binlog dir (@@log_bin_basename's). */
  binlogDir: string
  user: RunUser
  /** False once the archiver stops: no more is written. */
  running(): boolean
  /** The copies found to be a prefix of the server's file in this run (added to here). */
  verified: Set<string>
}

/**
 * Grows the archive's copy of `name` towards `target` bytes (what the server has of it whole);
 * a file the server closed is then whole, its in-use flag cleared. Returns the copy's size, and
 * why nothing more may be copied into it when that is so (the archiver is then `failed`).
 */
export async function growCopy(c: CopySides, name: string, target: number, closed: boolean): Promise<{ size: number; failed?: string }> {
  const dir = c.archiveDir
  let out = await openArchiveFile(dir, name, false)
  try {
    let size = 0
    if (out) {
      const st = await out.stat()
      if (!st.isFile()) throw new Error(`${join(dir, name)} is not a regular file`)
      size = st.size
    }
    if (size > target) return { size, failed: `the server's ${name} has ${target} bytes, fewer than the archive's copy (${size}): was it truncated? Nothing more is copied into it` }
    if (size < target) {
      const src = await openSource(c, name)
      try {
        if (out && size > 0 && !c.verified.has(name)) {
          const failed = await notPrefix(src, out, name, size)
          if (failed) return { size, failed }
        }
        c.verified.add(name)
        if (!out) {
          // Made once its source proved readable: no empty copy is left behind.
          out = (await openArchiveFile(dir, name, true))!
          await syncDir(dir)
        }
        const st = await out.stat()
        if (!st.isFile()) throw new Error(`${join(dir, name)} is not a regular file`)
        if (st.uid !== c.user.uid || st.gid !== c.user.gid) await out.chown(c.user.uid, c.user.gid)
        size = await fill(c, src, out, size, target)
      } finally {
        await src.close()
      }
    }
    if (out && closed && size === target) await clearInUse(out)
    return { size }
  } finally {
    await out?.close()
  }
}

/** The server's binlog file: a regular file of the run user, never through a link (the data dir is the user's). */
async function openSource(c: CopySides, name: string): Promise<FileHandle> {
  const path = join(c.binlogDir, name)
  const src = await open(path, fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK)
  const st = await src.stat().catch(async (e: Error) => {
    await src.close()
    throw e
  })
  if (st.isFile() && st.uid === c.user.uid) return src
  await src.close()
  throw new Error(`${path} is not a regular file of ${c.user.name}`)
}

/** Appends the server's bytes [size, target) (what it has of them) to the copy, then fdatasync; the copy's new size. */
async function fill(c: CopySides, src: FileHandle, out: FileHandle, size: number, target: number): Promise<number> {
  let at = size
  while (at < target && c.running()) {
    const buf = Buffer.allocUnsafe(Math.min(CHUNK, target - at))
    const got = await readAt(src, buf, at)
    if (!got) break
    const chunk = buf.subarray(0, got)
    // Copied cleared: the copy's bytes never change once written.
    if (at <= FLAGS_BYTE && FLAGS_BYTE < at + got) chunk[FLAGS_BYTE - at]! &= ~1
    for (let done = 0; done < got; ) done += (await out.write(chunk, done, got - done, at + done)).bytesWritten
    at += got
  }
  if (at > size) await out.datasync()
  return at
}

/**
 * Why the copy (`size` bytes) is not the start of the server's file, judged by its last bytes
 * (the in-use flag aside); undefined when it is.
 */
async function notPrefix(src: FileHandle, out: FileHandle, name: string, size: number): Promise<string | undefined> {
  const n = Math.min(PREFIX_CHECK, size)
  const [mine, theirs] = [Buffer.alloc(n), Buffer.alloc(n)]
  const [a, b] = [await readAt(out, mine, size - n), await readAt(src, theirs, size - n)]
  if (b < n) return `the server's ${name} is shorter than the archive's copy (${size} bytes): was it truncated? Nothing more is copied into it`
  const flag = FLAGS_BYTE - (size - n)
  if (flag >= 0 && flag < n) {
    mine[flag]! &= ~1
    theirs[flag]! &= ~1
  }
  if (a === n && mine.equals(theirs)) return undefined
  return `the archive's ${name} is not a prefix of the server's ${name} (they differ in the ${n} bytes before byte ${size}): nothing more is copied into it`
}

/** An archive file (made, 0600, with `create`; undefined when missing without); never through a link. */
async function openArchiveFile(dir: string, name: string, create: boolean): Promise<FileHandle | undefined> {
  const path = join(dir, name)
  try {
    return await open(path, create ? ARCHIVE_FILE | fsc.O_CREAT | fsc.O_EXCL : ARCHIVE_FILE, 0o600)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' && !create) return undefined
    throw e
  }
}

/** A new file's name made durable (as sealSegment does for the sidecars). */
async function syncDir(dir: string): Promise<void> {
  const d = await open(dir, 'r')
  await d.sync().finally(() => d.close())
}

/** Reads into `buf` from `pos` until it is full or the file ends; the bytes read. */
async function readAt(fh: FileHandle, buf: Buffer, pos: number): Promise<number> {
  let got = 0
  while (got < buf.length) {
    const { bytesRead } = await fh.read(buf, got, buf.length - got, pos + got)
    if (!bytesRead) break
    got += bytesRead
  }
  return got
}

/**
 * A whole copy as the server's closed file: LOG_EVENT_BINLOG_IN_USE_F cleared (copied cleared
 * already; a copy from before may not be). The format description's CRC32 leaves it out.
 */
async function clearInUse(fh: FileHandle): Promise<void> {
  const b = Buffer.alloc(1)
  if ((await readAt(fh, b, FLAGS_BYTE)) !== 1 || !(b[0]! & 1)) return
  b[0]! &= ~1
  await fh.write(b, 0, 1, FLAGS_BYTE)
  await fh.datasync()
}
