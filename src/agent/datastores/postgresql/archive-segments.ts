import { createHash } from 'node:crypto'
import { spawn } from 'node:child_process'
import { constants } from 'node:fs'
import { open, readdir, rename, stat, writeFile, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { archiveHoleText, SEGMENT_SIDECAR_SUFFIX, type ArchiveSegment } from '../../../protocol/index.js'
import { ENGINE_ENV, wrapperArgs } from '../../engine-process.js'
import type { EngineCommand, RunUser } from '../types.js'

/** A WAL segment's file name: timeline, log id, segment (8 hex digits each). */
export const WAL_NAME = /^[0-9A-F]{24}$/

/**
 * The position of a segment in the log across timelines: log id * segments per log id
 * + segment (XLogFromFileName). Consecutive segments have consecutive numbers, also
 * across a log id boundary (which `logid << 32 | seg` would not give).
 */
export function walSeq(name: string, segSize: number): number {
  const perId = 0x100000000 / segSize
  return Number.parseInt(name.slice(8, 16), 16) * perId + Number.parseInt(name.slice(16, 24), 16)
}

/**
 * The store is root's (0700) and each instance's archive directory is its user's: the
 * user cannot reach it by path, so the agent opens it and hands the open directory to
 * the tool as fd 3, which the tool names /proc/self/fd/3 (a link to the directory itself,
 * whatever the permissions of the directories above it). Nothing else of the store is
 * reachable from the tool.
 */
export const DIR_FD_PATH = '/proc/self/fd/3'

export function openDir(dir: string): Promise<FileHandle> {
  return open(dir, constants.O_RDONLY | constants.O_DIRECTORY)
}

/** runTool (as the instance's user), with `dir` open as fd 3 (DIR_FD_PATH). */
async function runInDir(cmd: EngineCommand, user: RunUser, dir: string): Promise<{ code: number | null; output: string }> {
  const fd = await openDir(dir)
  try {
    return await new Promise((resolve) => {
      const child = spawn('/bin/sh', wrapperArgs(cmd, user, []), { stdio: ['ignore', 'pipe', 'pipe', fd.fd], env: ENGINE_ENV })
      // Only the first and the last commit lines matter, and a busy segment's dump is long:
      // its first 64 KiB and its last 1 MiB are kept.
      let head = ''
      let tail = ''
      child.stdout!.on('data', (b: Buffer) => {
        if (head.length < 1 << 16) head += b.toString()
        else tail = (tail + b.toString()).slice(-(1 << 20))
      })
      child.stderr!.on('data', (b: Buffer) => (tail = (tail + b.toString()).slice(-(1 << 20))))
      child.once('error', (e) => resolve({ code: -1, output: e.message }))
      child.once('close', (code) => resolve({ code, output: `${head}\n${tail}` }))
    })
  } finally {
    await fd.close()
  }
}

/** sha256 (hex) and size of a file. */
export async function sha256File(path: string): Promise<{ sha256: string; bytes: number }> {
  const fh = await open(path, 'r')
  try {
    const hash = createHash('sha256')
    const buf = Buffer.allocUnsafe(1 << 20)
    let bytes = 0
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, null)
      if (!bytesRead) return { sha256: hash.digest('hex'), bytes }
      hash.update(buf.subarray(0, bytesRead))
      bytes += bytesRead
    }
  } finally {
    await fh.close()
  }
}

/** pg_waldump's commit and abort lines: `desc: COMMIT 2026-12-05 14:10:01.123456 UTC`. */
const COMMIT_LINE = /desc: (?:COMMIT|ABORT)(?:_PREPARED)? (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?) UTC/g

/** The first and last commit times (ISO 8601 UTC) in pg_waldump's output; nulls when none. */
export function commitTimes(output: string): { first_time: string | null; last_time: string | null } {
  let first: string | null = null
  let last: string | null = null
  for (const m of output.matchAll(COMMIT_LINE)) {
    const iso = `${m[1]!.replace(' ', 'T')}Z`
    first ??= iso
    last = iso
  }
  // Microseconds kept as written: Date would round them to milliseconds.
  return { first_time: first, last_time: last }
}

/**
 * Writes the sidecar of a complete segment (protocol/archive.ts): sha256 and size of the
 * file, and its first/last commit times from pg_waldump (run as the instance's user; a
 * record that runs on into the next segment makes it stop with an error after printing
 * every whole record before it, which is all we need). Through `.tmp`, fsync and rename.
 */
export async function writeSidecar(dir: string, name: string, segSize: number, waldump: string, user: RunUser): Promise<ArchiveSegment> {
  const { sha256, bytes } = await sha256File(join(dir, name))
  const dump = await runInDir({ file: waldump, args: ['--rmgr=Transaction', '-p', DIR_FD_PATH, name], asUser: true }, user, dir)
  const seg: ArchiveSegment = { name, seq: walSeq(name, segSize), sha256, bytes, ...commitTimes(dump.output) }
  const final = join(dir, name + SEGMENT_SIDECAR_SUFFIX)
  await writeFile(final + '.tmp', JSON.stringify(seg) + '\n', { mode: 0o600 })
  const fh = await open(final + '.tmp', 'r+')
  await fh.datasync().finally(() => fh.close())
  await rename(final + '.tmp', final)
  return seg
}

/** What is in an archive directory: complete segments with and without sidecars, and the open one. */
export interface ArchiveListing {
  /** Complete segments (final name), oldest first. */
  complete: string[]
  /** Those that have no sidecar yet. */
  unsealed: string[]
  /** The `.partial` pg_receivewal is writing, if any. */
  partial: string | undefined
}

export async function listArchive(dir: string): Promise<ArchiveListing> {
  const names = await readdir(dir).catch(() => [] as string[])
  const have = new Set(names)
  const complete = names.filter((n) => WAL_NAME.test(n)).sort()
  const partial = names
    .filter((n) => n.endsWith('.partial') && WAL_NAME.test(n.slice(0, -8)))
    .sort()
    .pop()
  return { complete, unsealed: complete.filter((n) => !have.has(n + SEGMENT_SIDECAR_SUFFIX)), partial }
}

/**
 * The first hole in the archive's sequence (complete segments, then the open one), as a
 * sentence, or undefined. Only the segments from `fromSeq` on count: older ones may have
 * been removed by retention on purpose.
 */
export function firstHole(names: string[], segSize: number, fromSeq = 0): string | undefined {
  const seqs = [...new Set(names.map((n) => walSeq(n.replace(/\.partial$/, ''), segSize)))].filter((s) => s >= fromSeq).sort((a, b) => a - b)
  for (let i = 1; i < seqs.length; i++) {
    if (seqs[i]! !== seqs[i - 1]! + 1) return archiveHoleText({ from: seqs[i - 1]! + 1, to: seqs[i]! - 1 })
  }
  return undefined
}

/** Size of a segment file in the directory, to learn wal_segment_size without the engine. */
export async function segmentSizeIn(dir: string, names: string[]): Promise<number | undefined> {
  for (const n of names) {
    const size = (await stat(join(dir, n)).catch(() => undefined))?.size
    if (size && size >= 1 << 20 && (size & (size - 1)) === 0) return size
  }
  return undefined
}
