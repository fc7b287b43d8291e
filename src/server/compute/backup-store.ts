import { mkdirSync, readdirSync, rmSync, chmodSync } from 'node:fs'
import { join, resolve, sep } from 'node:path'

/**
 * The lab's backup storage: a directory store, DIR/backups (root, 0700). The guest
 * writes `<id>.<ext>.tmp`, fsyncs it, checksums it while streaming (MD5, upstream's
 * Swift etag) and renames it to `<id>.<ext>` when complete; `<id>.meta.json` beside it
 * holds what incrementals and restores need (e.g. LSNs). The server owns the store:
 * it deletes a backup's files itself.
 */
export function backupStoreDir(dataDir: string): string {
  return join(dataDir, 'backups')
}

/** Creates the store (0700: backups hold every row of every database). */
export function ensureBackupStore(dataDir: string): string {
  const dir = backupStoreDir(dataDir)
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  try {
    chmodSync(dir, 0o700)
  } catch {
    /* not ours to change */
  }
  return dir
}

/**
 * Is `location` (reported by a guest) a file of backup `id` inside the store? A
 * guest could otherwise point a backup row, and so a later restore, at any file.
 */
export function isStoreLocation(dataDir: string, id: string, location: string): boolean {
  const dir = resolve(backupStoreDir(dataDir))
  const abs = resolve(location)
  return abs.startsWith(dir + sep) && abs.slice(dir.length + 1).startsWith(`${id}.`) && !abs.slice(dir.length + 1).includes(sep) && !abs.endsWith('.tmp')
}

/** Removes every file of backup `id` (data, metadata, leftovers); returns how many. */
export function removeBackupFiles(dataDir: string, id: string): number {
  const dir = backupStoreDir(dataDir)
  let names: string[]
  try {
    names = readdirSync(dir)
  } catch {
    return 0
  }
  const mine = names.filter((n) => n.startsWith(`${id}.`))
  for (const n of mine) rmSync(join(dir, n), { recursive: true, force: true })
  return mine.length
}
