import { constants as fsc } from 'node:fs'
import { mkdir, open, readFile, rm } from 'node:fs/promises'
import { basename, join, resolve } from 'node:path'
import { ARCHIVE_CONTAINER, ARCHIVE_OBJECT_NAME, SEGMENT_SIDECAR_SUFFIX, type ArchiveSegment, type RestoreSpec } from '../protocol/index.js'
import { BackupError } from './datastores/backup-files.js'
import { objectStore } from './object-store.js'

/** Where a sandboxed restore puts the part of the source's archive it replays (the instance's tmp dir). */
export const FETCHED_ARCHIVE = 'pitr-archive'
const WAL_PARTIAL = /^[0-9A-F]{24}\.partial$/

/**
 * A point-in-time restore in a sandbox (docs/pitr.md, "From a sandbox"): the source's archive is in
 * the server's store, out of sight, so the files the server grants this create (those from the base
 * backup's segment on: server object-store/archive.ts) are fetched into `tmpDir` through the object
 * store, and `restore.pitr.archiveDir` then names that copy: the replay is the one of `--isolation none`
 * (which checks each sealed segment's sha256 against the sidecar the server wrote). An open WAL
 * segment is stored as far as it was written, and filled up with zeros to its size here (recovery
 * wants whole segments; the zeros read as the end of the log, as pg_receivewal's own padding does).
 * Nothing to do when the archive is a directory the agent sees.
 */
export async function fetchArchive(restore: RestoreSpec, tmpDir: string): Promise<void> {
  const store = objectStore()
  const pitr = restore.pitr
  if (!store?.o.backupDir || !pitr || !resolve(pitr.archiveDir).startsWith(`${resolve(store.o.backupDir)}/archive/`)) return
  const source = basename(pitr.archiveDir)
  const listing = await store.get(ARCHIVE_CONTAINER, source)
  if (!listing) throw new BackupError(`the archive of instance ${source} is not in the backup store`)
  let text = ''
  for await (const b of listing) text += (b as Buffer).toString()
  const names = (JSON.parse(text) as { names: string[] }).names.filter((n) => ARCHIVE_OBJECT_NAME.test(n))
  const dest = join(tmpDir, FETCHED_ARCHIVE)
  await rm(dest, { recursive: true, force: true })
  await mkdir(dest, { mode: 0o700 })
  for (const name of names) {
    const body = await store.get(ARCHIVE_CONTAINER, `${source}/${name}`)
    if (!body) throw new BackupError(`archive segment ${name} of instance ${source} went missing from the backup store`)
    const fh = await open(join(dest, name), fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, 0o600)
    try {
      for await (const b of body) await fh.write(b as Buffer)
    } finally {
      await fh.close()
    }
  }
  let segSize = 16 << 20
  for (const n of names.filter((x) => x.endsWith(SEGMENT_SIDECAR_SUFFIX))) {
    segSize = (JSON.parse(await readFile(join(dest, n), 'utf8')) as ArchiveSegment).bytes || segSize
    break
  }
  for (const n of names.filter((x) => WAL_PARTIAL.test(x))) {
    const fh = await open(join(dest, n), 'r+')
    try {
      if ((await fh.stat()).size < segSize) await fh.truncate(segSize)
    } finally {
      await fh.close()
    }
  }
  pitr.archiveDir = dest
}

/** Removes what fetchArchive fetched (after the replay). */
export function dropFetchedArchive(tmpDir: string): Promise<void> {
  return rm(join(tmpDir, FETCHED_ARCHIVE), { recursive: true, force: true })
}
