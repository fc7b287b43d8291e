import type { DB } from './index.js'

/**
 * One repository per database: `make` prepares its statements the first time the
 * repository of a database is asked for, and that same object serves every later
 * call (better-sqlite3 statements are bound to their database, so they are kept with
 * it; a WeakMap lets a closed database's statements go with it). Hand-written: the
 * few lines better-sqlite3 leaves to its users.
 */
export function repository<T>(make: (db: DB) => T): (db: DB) => T {
  const made = new WeakMap<DB, T>()
  return (db) => {
    let r = made.get(db)
    if (r === undefined) {
      r = make(db)
      made.set(db, r)
    }
    return r
  }
}
