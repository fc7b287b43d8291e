import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { constants, createReadStream } from 'node:fs'
import { chown, open, readdir, readFile, rename } from 'node:fs/promises'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { SEGMENT_SIDECAR_SUFFIX, type ArchiveSegment } from '../../../protocol/index.js'
import { ENGINE_ENV, oneLine, wrapperArgs } from '../../engine-process.js'
import type { RunUser } from '../types.js'
import { BinlogParser, binlogSeq, type BinlogUnit } from './binlog-parse.js'

/** An archive file: its name, seq and whether it is sealed (has its sidecar). */
export interface ArchiveFile {
  name: string
  seq: number
  sealed: boolean
}

/** The binlog files of an archive dir, by seq (temporary sidecars ignored). */
export async function archiveFiles(dir: string): Promise<ArchiveFile[]> {
  const names = await readdir(dir).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return [] as string[]
    throw e
  })
  const set = new Set(names)
  const out: ArchiveFile[] = []
  for (const name of names) {
    const seq = binlogSeq(name)
    if (seq !== undefined) out.push({ name, seq, sealed: set.has(name + SEGMENT_SIDECAR_SUFFIX) })
  }
  return out.sort((a, b) => a.seq - b.seq)
}

/** Seqs missing between the first and the last archive file (holes: gaps). */
export function holes(files: ArchiveFile[]): number[] {
  const out: number[] = []
  for (let i = 1; i < files.length; i++) for (let s = files[i - 1]!.seq + 1; s < files[i]!.seq; s++) out.push(s)
  return out
}

/** sha256 and size of a file. */
export async function sha256File(path: string): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256')
  let bytes = 0
  for await (const chunk of createReadStream(path)) {
    hash.update(chunk as Buffer)
    bytes += (chunk as Buffer).length
  }
  return { sha256: hash.digest('hex'), bytes }
}

/**
 * The store is root's (0700): the run user cannot reach the archive by path. The agent
 * opens a file or the archive directory and hands it to the tool as fd 3, which the tool
 * names by this path (a link to what was opened, whatever the directories above it).
 */
export const FD3 = '/proc/self/fd/3'

/** Opens a directory for FD3. */
export const openDir = (dir: string) => open(dir, constants.O_RDONLY | constants.O_DIRECTORY)

export interface BinlogTool {
  /** mariadb-binlog's path. */
  binary: string
  user: RunUser
}

/**
 * The whole transactions of a binlog file (from byte `from`), decoded by mariadb-binlog
 * run as the run user (it parses what the tenant wrote) in UTC. `complete` is false
 * when the tool stopped early (a file cut mid-event: the open segment); the units are
 * then those before the cut. Row events are left out of the text (decode-rows without
 * -v: their headers only), which is all the parse needs. With `stopAfter` (epoch
 * seconds) the read ends at the first transaction stamped after it (the replay stops
 * there: nothing past it is needed), and counts as complete.
 */
export async function readUnits(tool: BinlogTool, file: string, from = 0, stopAfter?: number): Promise<{ units: BinlogUnit[]; complete: boolean; error: string }> {
  const parser = new BinlogParser()
  const args = ['TZ=UTC', tool.binary, '--no-defaults', '--base64-output=decode-rows', ...(from > 4 ? [`--start-position=${from}`] : []), FD3]
  const fh = await open(file, 'r')
  try {
    const child = spawn('/bin/sh', wrapperArgs({ file: 'env', args, asUser: true }, tool.user, []), { stdio: ['ignore', 'pipe', 'pipe', fh.fd], env: ENGINE_ENV })
    let stderr = ''
    child.stderr!.on('data', (b: Buffer) => {
      stderr = (stderr + b.toString()).slice(-4096)
    })
    const closed = new Promise<number | null>((resolve) => {
      child.once('error', (e) => {
        stderr += e.message
        resolve(-1)
      })
      child.once('close', (code) => resolve(code))
    })
    let passed = false
    for await (const l of createInterface({ input: child.stdout!, crlfDelay: Number.POSITIVE_INFINITY })) {
      parser.line(l)
      if (stopAfter !== undefined && (parser.units.at(-1)?.time ?? 0) > stopAfter) {
        passed = true
        break
      }
    }
    if (passed) {
      child.stdout!.destroy()
      child.kill('SIGKILL')
      await closed
      return { units: parser.units, complete: true, error: '' }
    }
    const code = await closed
    const error = code === 0 ? '' : oneLine(stderr.trim().split('\n').pop() || `exit ${code}`)
    return { units: parser.units, complete: code === 0, error }
  } finally {
    await fh.close()
  }
}

const iso = (epochSeconds: number): string => new Date(epochSeconds * 1000).toISOString()

/**
 * Seals a complete segment: sha256, size and commit times into `<name>.seg.json`
 * (through .tmp, fsync, rename, fsync of the dir), owned like the segment.
 */
export async function sealSegment(dir: string, name: string, tool: BinlogTool): Promise<ArchiveSegment> {
  const path = join(dir, name)
  const { sha256, bytes } = await sha256File(path)
  const read = await readUnits(tool, path)
  if (!read.complete) throw new Error(`${name}: mariadb-binlog could not read it: ${read.error}`)
  // The file must not have changed while it was read.
  const again = await sha256File(path)
  if (again.sha256 !== sha256) throw new Error(`${name} changed while it was sealed`)
  const seg: ArchiveSegment = {
    name,
    seq: binlogSeq(name)!,
    sha256,
    bytes,
    first_time: read.units.length ? iso(read.units[0]!.time) : null,
    last_time: read.units.length ? iso(read.units[read.units.length - 1]!.time) : null,
  }
  const final = path + SEGMENT_SIDECAR_SUFFIX
  const fh = await open(final + '.tmp', 'w', 0o600)
  try {
    await fh.writeFile(JSON.stringify(seg, null, 2) + '\n')
    await fh.sync()
  } finally {
    await fh.close()
  }
  await chown(final + '.tmp', tool.user.uid, tool.user.gid)
  await rename(final + '.tmp', final)
  const d = await open(dir, 'r')
  await d.sync().finally(() => d.close())
  return seg
}

/** A sidecar, or undefined when missing or unreadable. */
export async function readSidecar(dir: string, name: string): Promise<ArchiveSegment | undefined> {
  try {
    return JSON.parse(await readFile(join(dir, name + SEGMENT_SIDECAR_SUFFIX), 'utf8')) as ArchiveSegment
  } catch {
    return undefined
  }
}
