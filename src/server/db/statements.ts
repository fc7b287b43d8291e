import type Database from 'better-sqlite3'
import type { DB } from './index.js'

export type Statement = Database.Statement<unknown[]>

/**
 * Statements of one repository, each prepared on its first use and then kept for the
 * life of the database handle (never per request). Lazy, so a repository can be made
 * before a table it does not need yet exists (periodic audits, test databases).
 */
export class StatementCache {
  private readonly stmts = new Map<string, Statement>()

  constructor(private readonly db: DB) {}

  get(sql: string): Statement {
    let st = this.stmts.get(sql)
    if (!st) {
      st = this.db.prepare<unknown[]>(sql)
      this.stmts.set(sql, st)
    }
    return st
  }

  /** A statement returning the first column's value (better-sqlite3's pluck), kept apart from get(sql). */
  pluck(sql: string): Statement {
    const key = `pluck:${sql}`
    let st = this.stmts.get(key)
    if (!st) {
      st = this.db.prepare<unknown[]>(sql).pluck()
      this.stmts.set(key, st)
    }
    return st
  }
}
