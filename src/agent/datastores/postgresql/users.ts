import type { PostgresClient, Sql } from './driver.js'
import { AccountError, CONTROL_CHARS, generatePassword, type Accounts, type DatabaseSpec, type UserAttributes, type UserSpec, type UserView } from '../accounts.js'

/** Databases never listed nor touchable (internals.md 4.2). */
export const PG_HIDDEN_DBS = new Set(['postgres', 'template0', 'template1'])
/** Upstream's ignore_users for PostgreSQL (plus the replication role, replication.ts); pg_* roles are the engine's own. */
export const PG_HIDDEN_USERS = new Set(['os_admin', 'postgres', 'root', 'replicator'])
/** NAMEDATALEN - 1: longer identifiers are silently truncated by the engine. */
export const PG_NAME_MAX = 63
const ENCODING = /^[A-Za-z0-9_-]{1,64}$/
const COLLATION = /^[A-Za-z0-9_.@-]{1,128}$/

/**
 * Upstream's PostgreSQL rule (`^[\u0001-\u007F\u0080-\uFFFF]+[^\s]$`): almost anything,
 * no trailing space. Identifiers are quoted by the driver, so that is safe; control
 * characters are refused too (upstream's clients and logs split on them).
 */
function validName(name: unknown): name is string {
  return typeof name === 'string' && name !== '' && !CONTROL_CHARS.test(name) && !/\s$/.test(name) && !/^\s/.test(name)
}

export function validatePostgresDatabase(name: string): void {
  if (!validName(name)) throw new AccountError('BadRequest', `'${name}' is not a valid schema name.`)
  if (Buffer.byteLength(name) > PG_NAME_MAX) throw new AccountError('BadRequest', `Schema name '${name}' is too long. Max length = ${PG_NAME_MAX}.`)
  if (PG_HIDDEN_DBS.has(name)) throw new AccountError('BadRequest', `'${name}' is a reserved database name.`)
}

export function validatePostgresUser(name: string): void {
  if (!validName(name)) throw new AccountError('BadRequest', `'${name}' is not a valid user name.`)
  if (Buffer.byteLength(name) > PG_NAME_MAX) throw new AccountError('BadRequest', `User name '${name}' is too long. Max length = ${PG_NAME_MAX}.`)
  if (PG_HIDDEN_USERS.has(name) || name.startsWith('pg_')) throw new AccountError('BadRequest', `'${name}' is a reserved user name.`)
}

function validatePassword(password: unknown): asserts password is string {
  if (typeof password !== 'string' || password === '' || password.includes('\0')) throw new AccountError('BadRequest', 'The password is not valid.')
}

/** A standard-conforming string literal for configuration files (postgresql.conf): statements quote through the driver. */
export const pgLit = (s: string): string => "'" + s.replace(/'/g, "''") + "'"

export function createDatabaseSql(db: DatabaseSpec): Sql[] {
  const opts: string[] = []
  if (db.character_set !== undefined) {
    if (!ENCODING.test(db.character_set)) throw new AccountError('BadRequest', `'${db.character_set}' is not a valid character set.`)
    opts.push(`ENCODING '${db.character_set}'`)
  }
  if (db.collate !== undefined) {
    if (!COLLATION.test(db.collate)) throw new AccountError('BadRequest', `'${db.collate}' is not a valid collation.`)
    opts.push(`LC_COLLATE '${db.collate}' LC_CTYPE '${db.collate}'`)
  }
  // template1's encoding/locale can only be changed when copying the pristine template0.
  const template = opts.length ? ' TEMPLATE template0' : ''
  return [
    (q) => `CREATE DATABASE ${q.id(db.name)}${template}${opts.length ? ' ' + opts.join(' ') : ''}`,
    // Only users granted access may connect (upstream revokes PUBLIC's CONNECT too).
    (q) => `REVOKE CONNECT, TEMPORARY ON DATABASE ${q.id(db.name)} FROM PUBLIC`,
  ]
}

/** Grant on the database, plus the public schema inside it: PG15 no longer lets PUBLIC create there (engines.md 2). */
export const grantDatabaseSql =
  (user: string, db: string): Sql =>
  (q) =>
    `GRANT ALL PRIVILEGES ON DATABASE ${q.id(db)} TO ${q.id(user)}`
export const grantSchemaSql =
  (user: string): Sql =>
  (q) =>
    `GRANT ALL ON SCHEMA public TO ${q.id(user)}`
/** PASSWORD takes no parameter (a utility statement): the driver quotes the literal. */
const passwordSql =
  (verb: 'CREATE' | 'ALTER', user: string, password: string, attrs = ''): Sql =>
  (q) =>
    `${verb} ROLE ${q.id(user)}${attrs} PASSWORD ${q.lit(password)}`

/** PostgreSQL roles, databases and root (internals.md 4.2, engines.md 2). Users have no host: always '%'. */
export class PostgresAccounts implements Accounts {
  constructor(private readonly pg: PostgresClient) {}

  private async databaseNames(): Promise<string[]> {
    const rows = await this.pg.query('SELECT datname FROM pg_database WHERE NOT datistemplate ORDER BY datname')
    return rows.map((r) => r[0]!).filter((n) => !PG_HIDDEN_DBS.has(n))
  }

  async createDatabases(dbs: DatabaseSpec[]): Promise<void> {
    for (const d of dbs) validatePostgresDatabase(d.name)
    // CREATE DATABASE cannot run in a transaction block: each statement is sent on its own.
    if (dbs.length) await this.pg.query(dbs.flatMap(createDatabaseSql))
  }

  async deleteDatabase(name: string): Promise<void> {
    validatePostgresDatabase(name)
    if (!(await this.databaseNames()).includes(name)) throw new AccountError('NotFound', `Database ${name} cannot be found on the instance.`)
    await this.pg.query((q) => `DROP DATABASE ${q.id(name)} WITH (FORCE)`)
  }

  async listDatabases(): Promise<Array<{ name: string }>> {
    return (await this.databaseNames()).map((name) => ({ name }))
  }

  async createUsers(users: UserSpec[]): Promise<void> {
    for (const u of users) {
      validatePostgresUser(u.name)
      validatePassword(u.password)
      for (const d of u.databases ?? []) validatePostgresDatabase(d.name)
    }
    for (const u of users) {
      await this.pg.query(passwordSql('CREATE', u.name, u.password, ' LOGIN'))
      await this.grant(
        u.name,
        (u.databases ?? []).map((d) => d.name),
      )
    }
  }

  private async grant(user: string, dbs: string[]): Promise<void> {
    if (!dbs.length) return
    await this.pg.query(dbs.map((d) => grantDatabaseSql(user, d)))
    for (const d of dbs) await this.pg.query(grantSchemaSql(user), d)
  }

  /** REASSIGN/DROP OWNED must run in every database the role may own or have grants in (engines.md 2). */
  async deleteUser(name: string, _host: string): Promise<void> {
    await this.requireUser(name)
    const dbs = (await this.pg.query('SELECT datname FROM pg_database WHERE datallowconn ORDER BY datname')).map((r) => r[0]!)
    for (const d of dbs) await this.pg.query([(q) => `REASSIGN OWNED BY ${q.id(name)} TO postgres`, (q) => `DROP OWNED BY ${q.id(name)}`], d)
    await this.pg.query((q) => `DROP ROLE ${q.id(name)}`)
  }

  async listUsers(): Promise<UserView[]> {
    const [roles, grants] = await Promise.all([
      this.pg.query("SELECT rolname FROM pg_roles WHERE rolcanlogin AND rolname !~ '^pg_' ORDER BY rolname"),
      this.pg.query(
        `SELECT r.rolname, d.datname FROM pg_database d, aclexplode(d.datacl) a, pg_roles r
         WHERE a.grantee = r.oid AND a.privilege_type = 'CONNECT' AND NOT d.datistemplate ORDER BY d.datname`,
      ),
    ])
    return roles
      .map((r) => r[0]!)
      .filter((n) => !PG_HIDDEN_USERS.has(n))
      .map((name) => ({
        name,
        host: '%',
        databases: grants.filter((g) => g[0] === name && !PG_HIDDEN_DBS.has(g[1]!)).map((g) => ({ name: g[1]! })),
      }))
  }

  async getUser(name: string, _host: string): Promise<UserView | null> {
    return (await this.listUsers()).find((u) => u.name === name) ?? null
  }

  private async requireUser(name: string): Promise<UserView> {
    validatePostgresUser(name)
    const u = await this.getUser(name, '%')
    if (!u) throw new AccountError('NotFound', `User ${name} cannot be found on the instance.`)
    return u
  }

  /** Host changes are ignored: PostgreSQL users have none (upstream too). */
  async updateAttributes(name: string, _host: string, attrs: UserAttributes): Promise<void> {
    await this.requireUser(name)
    let current = name
    if (attrs.name !== undefined && attrs.name !== name) {
      validatePostgresUser(attrs.name)
      if (await this.getUser(attrs.name, '%')) throw new AccountError('BadRequest', `A user with the name "${attrs.name}" already exists.`)
      // SCRAM secrets survive a rename (only MD5 ones are salted with the name).
      const to = attrs.name
      await this.pg.query((q) => `ALTER ROLE ${q.id(name)} RENAME TO ${q.id(to)}`)
      current = attrs.name
    }
    if (attrs.password !== undefined) {
      validatePassword(attrs.password)
      await this.pg.query(passwordSql('ALTER', current, attrs.password))
    }
  }

  async changePasswords(users: Array<{ name: string; host?: string; password: string }>): Promise<void> {
    for (const u of users) {
      await this.requireUser(u.name)
      validatePassword(u.password)
    }
    if (users.length) await this.pg.query(users.map((u) => passwordSql('ALTER', u.name, u.password)))
  }

  async grantAccess(name: string, _host: string, databases: string[]): Promise<void> {
    await this.requireUser(name)
    const existing = new Set(await this.databaseNames())
    for (const d of databases) {
      validatePostgresDatabase(d)
      if (!existing.has(d)) throw new AccountError('NotFound', `Database ${d} cannot be found on the instance.`)
    }
    await this.grant(name, databases)
  }

  async revokeAccess(name: string, _host: string, database: string): Promise<void> {
    const u = await this.requireUser(name)
    if (!u.databases.some((d) => d.name === database)) throw new AccountError('NotFound', `Database ${database} cannot be found on the instance.`)
    await this.pg.query((q) => `REVOKE ALL ON SCHEMA public FROM ${q.id(name)}`, database)
    await this.pg.query((q) => `REVOKE ALL PRIVILEGES ON DATABASE ${q.id(database)} FROM ${q.id(name)}`)
  }

  async listAccess(name: string, _host: string): Promise<Array<{ name: string }>> {
    return (await this.requireUser(name)).databases
  }

  async enableRoot(password?: string): Promise<{ name: string; password: string }> {
    const pw = password ?? generatePassword()
    validatePassword(pw)
    const exists = (await this.pg.query("SELECT 1 FROM pg_roles WHERE rolname = 'root'")).length > 0
    const attrs = 'SUPERUSER CREATEDB CREATEROLE INHERIT REPLICATION BYPASSRLS LOGIN'
    await this.pg.query(passwordSql(exists ? 'ALTER' : 'CREATE', 'root', pw, ` WITH ${attrs}`))
    return { name: 'root', password: pw }
  }

  /**
   * Upstream sets a new random password and leaves a superuser that can log in; here the
   * role stays (it may own objects) but can no longer log in and has no password.
   */
  async disableRoot(): Promise<void> {
    const exists = (await this.pg.query("SELECT 1 FROM pg_roles WHERE rolname = 'root'")).length > 0
    if (exists) await this.pg.query('ALTER ROLE root WITH NOLOGIN PASSWORD NULL')
  }

  async isRootEnabled(): Promise<boolean> {
    return (await this.pg.query("SELECT 1 FROM pg_roles WHERE rolname = 'root' AND rolcanlogin")).length > 0
  }
}
