import type { DB } from '../db/index.js'
import { isoNow } from '../db/index.js'
import { type ProjectRecord, projects } from '../db/projects.js'
import { roleAssignments } from '../db/role-assignments.js'
import { type Role, roles } from '../db/roles.js'
import { tokens } from '../db/tokens.js'
import { users } from '../db/users.js'
import { DUMMY_PASSWORD_HASH, hashPassword, hexId, randomSecret, sha256, verifyPassword } from './secrets.js'

export type { Role }

export interface Project {
  id: string
  name: string
  domain_id: string
  description?: string
}
export interface User {
  id: string
  name: string
  domain_id: string
  default_project_id: string | null
}

/** What a validated token says about its bearer. */
export interface AuthContext {
  user: User
  project: Project | null
  roles: Role[]
  methods: string[]
  auditId: string
  issuedAt: string
  expiresAt: string
  isAdmin: boolean
}

export const DEFAULT_DOMAIN = { id: 'default', name: 'Default' }

/** A project as tokens and the v3 look-ups carry it. */
function project(p: ProjectRecord | undefined): Project | undefined {
  return p && { id: p.id, name: p.name, domain_id: p.domain_id, description: p.description }
}

/** Keystone's expires_at form: UTC with microseconds and a Z. */
export function keystoneTime(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z')
}

/**
 * The lab's identity data (a Keystone v3 subset). Passwords are scrypt hashes and
 * tokens SHA-256 digests, so the database holds nothing a reader could log in with.
 * Validated tokens are cached in memory: the API checks a token on every request.
 */
export class IdentityStore {
  private readonly cache = new Map<string, { ctx: AuthContext; until: number }>()
  private readonly repo

  constructor(
    private readonly db: DB,
    private readonly tokenTtlSeconds = 3600,
  ) {
    this.repo = { projects: projects(db), users: users(db), roles: roles(db), assignments: roleAssignments(db), tokens: tokens(db) }
  }

  /** Resolves a domain reference ({id} or {name}) to its id; only the default domain exists. */
  static domainId(ref: { id?: unknown; name?: unknown } | undefined): string | undefined {
    if (!ref) return DEFAULT_DOMAIN.id
    if (ref.id !== undefined) return ref.id === DEFAULT_DOMAIN.id ? DEFAULT_DOMAIN.id : undefined
    if (ref.name !== undefined) return ref.name === DEFAULT_DOMAIN.name ? DEFAULT_DOMAIN.id : undefined
    return DEFAULT_DOMAIN.id
  }

  findProject(ref: { id?: string; name?: string; domainId?: string }): Project | undefined {
    if (ref.id) return project(this.repo.projects.get(ref.id))
    if (ref.name) return project(this.repo.projects.byName(ref.name, ref.domainId ?? DEFAULT_DOMAIN.id))
    return undefined
  }

  listProjects(): Project[] {
    return this.repo.projects.list().map((p) => project(p)!)
  }

  ensureRole(name: string): Role {
    const row = this.repo.roles.byName(name)
    if (row) return row
    const role = { id: hexId(), name }
    this.repo.roles.insert(role)
    return role
  }

  createProject(name: string, description = ''): Project {
    const p = { id: hexId(), name, domain_id: DEFAULT_DOMAIN.id }
    this.repo.projects.insert({ ...p, description, enabled: 1 }, isoNow())
    return p
  }

  createUser(name: string, password: string, defaultProjectId: string | null): User {
    const u = { id: hexId(), name, domain_id: DEFAULT_DOMAIN.id, default_project_id: defaultProjectId }
    this.repo.users.insert({ ...u, password_hash: hashPassword(password) }, isoNow())
    return u
  }

  setPassword(userId: string, password: string): void {
    this.repo.users.setPasswordHash(userId, hashPassword(password))
    this.cache.clear()
  }

  assignRole(userId: string, projectId: string, roleName: string): void {
    const role = this.ensureRole(roleName)
    this.repo.assignments.grant(userId, projectId, role.id)
  }

  userByName(name: string, domainId = DEFAULT_DOMAIN.id): User | undefined {
    const row = this.repo.users.byName(name, domainId)
    return row ? { id: row.id, name: row.name, domain_id: row.domain_id, default_project_id: row.default_project_id } : undefined
  }

  /**
   * Checks a password (off the event loop, secrets.ts); undefined when the user is unknown,
   * disabled or the password is wrong. An unknown user costs one hash too, so the answer's
   * timing does not tell which names exist.
   */
  async checkPassword(ref: { id?: string; name?: string; domainId?: string }, password: string): Promise<User | undefined> {
    const row = this.loginRow(ref)
    const ok = await verifyPassword(password, row?.password_hash ?? DUMMY_PASSWORD_HASH)
    if (!row?.enabled || !ok) return undefined
    return { id: row.id, name: row.name, domain_id: row.domain_id, default_project_id: row.default_project_id }
  }

  /** Who a password login names, for per-user throttling: the user id, else the name as given. */
  loginKey(ref: { id?: string; name?: string; domainId?: string }): string {
    const row = this.loginRow(ref)
    return row ? row.id : `${ref.domainId ?? DEFAULT_DOMAIN.id}/${ref.name ?? ref.id ?? ''}`
  }

  private loginRow(ref: { id?: string; name?: string; domainId?: string }) {
    return ref.id ? this.repo.users.get(ref.id) : this.repo.users.byName(ref.name ?? '', ref.domainId ?? DEFAULT_DOMAIN.id)
  }

  rolesFor(userId: string, projectId: string): Role[] {
    return this.repo.assignments.rolesFor(userId, projectId)
  }

  /** Issues a token; `expiresAt` may not extend a parent token's life (token method). */
  issueToken(user: User, project: Project | null, methods: string[], notAfter?: Date): { token: string; ctx: AuthContext } {
    const token = 'tlab' + randomSecret(32)
    const now = new Date()
    let expires = new Date(now.getTime() + this.tokenTtlSeconds * 1000)
    if (notAfter && notAfter < expires) expires = notAfter
    const ctx = this.contextFor(user, project, methods, randomSecret(16), keystoneTime(now), keystoneTime(expires))
    this.repo.tokens.insert({
      digest: sha256(token),
      user_id: user.id,
      project_id: project?.id ?? null,
      methods: methods.join(','),
      audit_id: ctx.auditId,
      issued_at: ctx.issuedAt,
      expires_at: ctx.expiresAt,
    })
    if (Math.random() < 0.01) this.repo.tokens.purgeExpired(keystoneTime(now))
    return { token, ctx }
  }

  private contextFor(user: User, project: Project | null, methods: string[], auditId: string, issuedAt: string, expiresAt: string): AuthContext {
    const roles = project ? this.rolesFor(user.id, project.id) : []
    return { user, project, roles, methods, auditId, issuedAt, expiresAt, isAdmin: roles.some((r) => r.name === 'admin') }
  }

  /** The bearer of a token, or undefined when it is unknown or expired. */
  validate(token: string | undefined): AuthContext | undefined {
    if (!token) return undefined
    const digest = sha256(token)
    const now = Date.now()
    const hit = this.cache.get(digest)
    if (hit && hit.until > now) return hit.ctx
    const row = this.repo.tokens.get(digest)
    if (!row || Date.parse(row.expires_at) <= now) {
      this.cache.delete(digest)
      return undefined
    }
    const u = this.repo.users.get(row.user_id)
    if (!u?.enabled) return undefined
    const project = row.project_id ? (this.findProject({ id: row.project_id }) ?? null) : null
    const user = { id: u.id, name: u.name, domain_id: u.domain_id, default_project_id: u.default_project_id }
    const ctx = this.contextFor(user, project, row.methods.split(','), row.audit_id, row.issued_at, row.expires_at)
    // Cache briefly (never past expiry) so role changes still show up within a minute.
    if (this.cache.size > 10000) this.cache.clear()
    this.cache.set(digest, { ctx, until: Math.min(now + 60_000, Date.parse(row.expires_at)) })
    return ctx
  }

  /** Revokes a token (Keystone's DELETE /v3/auth/tokens): from now on it validates nowhere. */
  revoke(token: string): void {
    const digest = sha256(token)
    this.repo.tokens.delete(digest)
    this.cache.delete(digest)
  }

  /**
   * First start: projects admin and demo with users of the same names and random
   * passwords. Returns the passwords (only then known in clear) for clouds.yaml.
   */
  bootstrap(): { admin: string; demo: string } | undefined {
    const existing = this.repo.users.count()
    if (existing > 0) return undefined
    const pw = { admin: randomSecret(18), demo: randomSecret(18) }
    this.db.transaction(() => {
      this.ensureRole('admin')
      this.ensureRole('member')
      this.ensureRole('reader')
      const admin = this.createProject('admin', 'Lab administrators')
      const demo = this.createProject('demo', 'Lab demo project')
      const au = this.createUser('admin', pw.admin, admin.id)
      const du = this.createUser('demo', pw.demo, demo.id)
      this.assignRole(au.id, admin.id, 'admin')
      this.assignRole(du.id, demo.id, 'member')
      this.assignRole(du.id, demo.id, 'reader')
    })()
    return pw
  }

  /** New random passwords for the lab users (when clouds.yaml, the only clear copy, is lost). */
  resetLabPasswords(): { admin: string; demo: string } {
    const pw = { admin: randomSecret(18), demo: randomSecret(18) }
    for (const name of ['admin', 'demo'] as const) {
      const u = this.userByName(name)
      if (u) this.setPassword(u.id, pw[name])
    }
    return pw
  }

  /** The database, for the Keystone admin operations (admin-store.ts). */
  get database(): DB {
    return this.db
  }

  /** Forgets every validated token (after a role, password or user change). */
  invalidate(): void {
    this.cache.clear()
  }
}
