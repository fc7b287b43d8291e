import type { DB } from './index.js'
import { repository } from './repository.js'

/** The tokens table: a token is kept as its SHA-256 digest, never in clear. */
export interface TokenRow {
  digest: string
  user_id: string
  project_id: string | null
  methods: string
  audit_id: string
  issued_at: string
  expires_at: string
}

export class Tokens {
  private readonly s

  constructor(db: DB) {
    this.s = {
      insert: db.prepare('INSERT INTO tokens (digest, user_id, project_id, methods, audit_id, issued_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      byDigest: db.prepare('SELECT digest, user_id, project_id, methods, audit_id, issued_at, expires_at FROM tokens WHERE digest = ?'),
      purgeExpired: db.prepare('DELETE FROM tokens WHERE expires_at < ?'),
      delete: db.prepare('DELETE FROM tokens WHERE digest = ?'),
      deleteOfUser: db.prepare('DELETE FROM tokens WHERE user_id = ?'),
      deleteOfUserOnProject: db.prepare('DELETE FROM tokens WHERE user_id = ? AND project_id = ?'),
    }
  }

  insert(t: TokenRow): void {
    this.s.insert.run(t.digest, t.user_id, t.project_id, t.methods, t.audit_id, t.issued_at, t.expires_at)
  }

  get(digest: string): TokenRow | undefined {
    return this.s.byDigest.get(digest) as TokenRow | undefined
  }

  /** Drops the tokens that expired before `now` (Keystone's expiry form). */
  purgeExpired(now: string): void {
    this.s.purgeExpired.run(now)
  }

  delete(digest: string): void {
    this.s.delete.run(digest)
  }

  /** Revokes every token of a user. */
  deleteOfUser(userId: string): void {
    this.s.deleteOfUser.run(userId)
  }

  /** Revokes a user's tokens scoped to a project. */
  deleteOfUserOnProject(userId: string, projectId: string): void {
    this.s.deleteOfUserOnProject.run(userId, projectId)
  }
}

export const tokens = repository((db) => new Tokens(db))
