import { chmodSync, closeSync, existsSync, openSync } from 'node:fs'
import Database from 'better-sqlite3'
import { MIGRATIONS } from './migrations/index.js'

export type DB = Database.Database

/**
 * Opens DIR/trove.db. WAL lets API reads run while a flow writes; synchronous=FULL
 * makes every commit durable before it returns, so a kill -9 (or a power cut) never
 * loses a row an API call already answered for. Writes are few, reads many, so the
 * fsync cost stays off the hot path.
 */
export function openDatabase(file: string): DB {
  // SQLite gives its -wal and -shm files the main file's mode, so create it 0600 first:
  // the journals hold the same rows (password and token hashes) as the database.
  closeSync(openSync(file, 'a', 0o600))
  chmodSync(file, 0o600)
  for (const j of [`${file}-wal`, `${file}-shm`]) if (existsSync(j)) chmodSync(j, 0o600)
  const db = new Database(file)
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = FULL')
  db.pragma('foreign_keys = ON')
  db.pragma('busy_timeout = 5000')
  migrate(db)
  return db
}

/** Applies the migrations not yet recorded in schema_migrations, each in its own transaction. */
export function migrate(db: DB): number {
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)')
  const applied = new Set(db.prepare('SELECT version FROM schema_migrations').pluck().all() as number[])
  let count = 0
  for (const m of MIGRATIONS) {
    if (applied.has(m.version)) continue
    db.transaction(() => {
      db.exec(m.sql)
      db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(m.version, m.name, new Date().toISOString())
    })()
    count++
  }
  return count
}

/** Upstream's date form: naive UTC, no fraction, no zone ("2019-12-23T20:53:38"). */
export function isoNow(d = new Date()): string {
  return d.toISOString().slice(0, 19)
}
