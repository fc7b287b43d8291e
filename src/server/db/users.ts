import type { DB } from './index.js'
import { repository } from './repository.js'

/** The users table; password_hash is an scrypt hash (identity/secrets.ts), '!' for none. */
export interface UserRow {
  id: string
  name: string
  domain_id: string
  default_project_id: string | null
  password_hash: string
  enabled: number
}

/** What the admin API shows of a user (Keystone has a description; the lab stores none). */
export interface UserRecord {
  id: string
  name: string
  domain_id: string
  default_project_id: string | null
  enabled: number
  description: string | null
}

const ADMIN_COLUMNS = 'id, name, domain_id, default_project_id, enabled, NULL AS description'

export class Users {
  private readonly s

  constructor(db: DB) {
    this.s = {
      byId: db.prepare('SELECT id, name, domain_id, default_project_id, password_hash, enabled FROM users WHERE id = ?'),
      byName: db.prepare('SELECT id, name, domain_id, default_project_id, password_hash, enabled FROM users WHERE name = ? AND domain_id = ?'),
      nameTaken: db.prepare('SELECT 1 FROM users WHERE name = ? AND domain_id = ? AND id IS NOT ?'),
      count: db.prepare('SELECT count(*) FROM users').pluck(),
      record: db.prepare(`SELECT ${ADMIN_COLUMNS} FROM users WHERE id = ?`),
      list: db.prepare(`SELECT ${ADMIN_COLUMNS} FROM users WHERE (@name IS NULL OR name = @name) ORDER BY name`),
      insert: db.prepare('INSERT INTO users (id, name, domain_id, password_hash, default_project_id, enabled, created) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      setName: db.prepare('UPDATE users SET name = ? WHERE id = ?'),
      setDefaultProject: db.prepare('UPDATE users SET default_project_id = ? WHERE id = ?'),
      setEnabled: db.prepare('UPDATE users SET enabled = ? WHERE id = ?'),
      setPasswordHash: db.prepare('UPDATE users SET password_hash = ? WHERE id = ?'),
      forgetProject: db.prepare('UPDATE users SET default_project_id = NULL WHERE default_project_id = ?'),
      delete: db.prepare('DELETE FROM users WHERE id = ?'),
    }
  }

  /** The full row (with the password hash: for logins only). */
  get(id: string): UserRow | undefined {
    return this.s.byId.get(id) as UserRow | undefined
  }

  byName(name: string, domainId: string): UserRow | undefined {
    return this.s.byName.get(name, domainId) as UserRow | undefined
  }

  /** Does another user (not `except`) of the domain have this name? */
  nameTaken(name: string, domainId: string, except?: string): boolean {
    return this.s.nameTaken.get(name, domainId, except ?? null) !== undefined
  }

  count(): number {
    return this.s.count.get() as number
  }

  /** The admin API's view of a user (no hash). */
  record(id: string): UserRecord | undefined {
    return this.s.record.get(id) as UserRecord | undefined
  }

  list(name?: string): UserRecord[] {
    return this.s.list.all({ name: name ?? null }) as UserRecord[]
  }

  insert(u: Omit<UserRow, 'enabled'> & { enabled?: number }, created: string): void {
    this.s.insert.run(u.id, u.name, u.domain_id, u.password_hash, u.default_project_id, u.enabled ?? 1, created)
  }

  setName(id: string, name: string): void {
    this.s.setName.run(name, id)
  }

  setDefaultProject(id: string, projectId: string | null): void {
    this.s.setDefaultProject.run(projectId, id)
  }

  setEnabled(id: string, enabled: boolean): void {
    this.s.setEnabled.run(enabled ? 1 : 0, id)
  }

  setPasswordHash(id: string, hash: string): void {
    this.s.setPasswordHash.run(hash, id)
  }

  /** Users whose default project is going keep none. */
  forgetProject(projectId: string): void {
    this.s.forgetProject.run(projectId)
  }

  delete(id: string): void {
    this.s.delete.run(id)
  }
}

export const users = repository((db) => new Users(db))
