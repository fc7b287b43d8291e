import { createHash } from 'node:crypto'
import type { MariadbClient, Quote, Sql } from './driver.js'
import { AGENT_DB_USER } from './driver.js'
import { AccountError, CONTROL_CHARS, generatePassword, type Accounts, type DatabaseSpec, type UserAttributes, type UserSpec, type UserView } from '../accounts.js'

/** Databases never listed nor touchable (internals.md 4.1; MariaDB has sys too). */
export const MARIADB_HIDDEN_DBS = new Set(['mysql', 'information_schema', 'performance_schema', 'sys', 'lost+found'])
/** The account an older agent's binlog archiver made (archive.ts drops it) and the point-in-time replay's, while it runs (pitr.ts). */
export const ARCHIVER_DB_USER = 'trove_archiver'
export const REPLAY_DB_USER = 'trove_pitr'
/** Upstream's ignore_users, plus MariaDB's own system accounts and roles, and the agent's own. */
export const MARIADB_HIDDEN_USERS = new Set(['os_admin', 'root', 'mariadb.sys', 'PUBLIC', '', AGENT_DB_USER, ARCHIVER_DB_USER, REPLAY_DB_USER])
/** The replication accounts the agent creates (replication.ts: slave_<8 hex>): system accounts, never listed. */
export const MARIADB_REPLICATION_USER = /^slave_[0-9a-f]{8}$/

/**
 * Upstream's MySQLSchema name rule. Upstream's regex needs at least two characters
 * (`^[A-Za-z0-9_-]+[\s?#@]*[A-Za-z0-9_-]+$`), a quirk not copied: one-letter names are
 * valid databases. Its `\s` also let tabs and newlines in, which the client's tab-separated
 * listing then cut: only spaces are allowed between the words here.
 */
const DB_NAME = /^[A-Za-z0-9_-]+(?:[ ?#@]*[A-Za-z0-9_-]+)?$/
/** Upstream's MySQLUser.not_supported_chars, for names and hosts. */
const USER_BAD = /^\s|\s$|'|"|;|`|,|\/|\\/
/**
 * Upstream caps names at 16 (MySQL 5.6's limit; quirk). MariaDB 10.11 stores up to 80
 * characters, so that is the limit here.
 */
export const MARIADB_USER_MAX = 80
const CHARSET = /^[A-Za-z0-9_]{1,64}$/

export function validateMariadbDatabase(name: string): void {
  if (typeof name !== 'string' || !DB_NAME.test(name)) throw new AccountError('BadRequest', `'${name}' is not a valid schema name.`)
  if (name.length > 64) throw new AccountError('BadRequest', `Schema name '${name}' is too long. Max length = 64.`)
  if (MARIADB_HIDDEN_DBS.has(name.toLowerCase())) throw new AccountError('BadRequest', `'${name}' is a reserved database name.`)
}

export function validateMariadbUser(name: string, host: string): void {
  if (typeof name !== 'string' || name === '' || USER_BAD.test(name) || CONTROL_CHARS.test(name)) throw new AccountError('BadRequest', `'${name}' is not a valid user name.`)
  if (name.length > MARIADB_USER_MAX) throw new AccountError('BadRequest', `User name '${name}' is too long. Max length = ${MARIADB_USER_MAX}.`)
  // A replication account's name too: init_connect (access.ts) lets those in from any address.
  if (MARIADB_HIDDEN_USERS.has(name) || MARIADB_REPLICATION_USER.test(name)) throw new AccountError('BadRequest', `'${name}' is a reserved user name.`)
  if (typeof host !== 'string' || host === '' || host.length > 255 || USER_BAD.test(host) || CONTROL_CHARS.test(host) || host === 'localhost')
    throw new AccountError('BadRequest', `'${host}' is not a valid hostname.`)
}

/**
 * Passwords go into a correctly quoted literal, so unlike upstream (which refuses
 * quotes, semicolons, commas, slashes...) only empty ones and control characters are refused.
 */
export function validatePassword(password: unknown): asserts password is string {
  if (typeof password !== 'string' || password === '' || CONTROL_CHARS.test(password)) throw new AccountError('BadRequest', 'The password is not valid.')
}

/**
 * The mysql_native_password hash of a password: '*' and SHA1(SHA1(password)) in upper-case
 * hex, what PASSWORD() computes. Statements carry this hash (IDENTIFIED BY PASSWORD '*...'),
 * never the clear password: statements go to the binlog, which travels to replicas and backups.
 */
export function nativePasswordHash(password: string): string {
  const inner = createHash('sha1').update(password, 'utf8').digest()
  return '*' + createHash('sha1').update(inner).digest('hex').toUpperCase()
}

/** An account in a statement: `?@?`, name and host as values the connector escapes. */
export const ACCOUNT = '?@?'
/** `IDENTIFIED BY PASSWORD ?`: the clause for CREATE/ALTER USER, its value the hash, never the clear password. */
export const IDENTIFIED = 'IDENTIFIED BY PASSWORD ?'
/**
 * A database in GRANT ... ON `db`.*: `_` and `%` are wildcards there, so upstream's
 * unescaped grant on `my_db` also opened `myXdb`. Escaped, it opens exactly `my_db`.
 */
export const grantTarget = (q: Quote, db: string): string => q.id(db.replace(/([_%])/g, '\\$1')) + '.*'
/** mysql.db stores the escaped pattern; back to the database name. */
export const unescapeGrantDb = (db: string): string => db.replace(/\\([_%\\])/g, '$1')

export function createDatabaseSql(db: DatabaseSpec): Sql {
  const charset = db.character_set ?? 'utf8mb3'
  const collate = db.collate ?? (db.character_set ? undefined : 'utf8mb3_general_ci')
  if (!CHARSET.test(charset)) throw new AccountError('BadRequest', `'${charset}' is not a valid character set.`)
  if (collate !== undefined && !CHARSET.test(collate)) throw new AccountError('BadRequest', `'${collate}' is not a valid collation.`)
  return (q) => `CREATE DATABASE ${q.id(db.name)} CHARACTER SET ${charset}${collate ? ` COLLATE ${collate}` : ''}`
}

const grantSql =
  (db: string, name: string, host: string): Sql =>
  (q) => ({ sql: `GRANT ALL PRIVILEGES ON ${grantTarget(q, db)} TO ${ACCOUNT}`, values: [name, host] })
const alterPasswordSql = (name: string, host: string, password: string): Sql => ({ sql: `ALTER USER ${ACCOUNT} ${IDENTIFIED}`, values: [name, host, nativePasswordHash(password)] })

export function createUserSql(u: UserSpec): Sql[] {
  const host = u.host ?? '%'
  return [{ sql: `CREATE USER ${ACCOUNT} ${IDENTIFIED}`, values: [u.name, host, nativePasswordHash(u.password)] }, ...(u.databases ?? []).map((d) => grantSql(d.name, u.name, host))]
}

/** MariaDB/MySQL users, databases and root (internals.md 4.1, engines.md 1). */
export class MariadbAccounts implements Accounts {
  constructor(private readonly db: MariadbClient) {}

  private async databaseNames(): Promise<string[]> {
    const rows = await this.db.query('SHOW DATABASES')
    return rows.map((r) => r[0]!).filter((n) => !MARIADB_HIDDEN_DBS.has(n.toLowerCase()))
  }

  async createDatabases(dbs: DatabaseSpec[]): Promise<void> {
    for (const d of dbs) validateMariadbDatabase(d.name)
    if (dbs.length) await this.db.query(...dbs.map(createDatabaseSql))
  }

  async deleteDatabase(name: string): Promise<void> {
    validateMariadbDatabase(name)
    if (!(await this.databaseNames()).includes(name)) throw new AccountError('NotFound', `Database ${name} cannot be found on the instance.`)
    await this.db.query((q) => `DROP DATABASE ${q.id(name)}`)
  }

  async listDatabases(): Promise<Array<{ name: string }>> {
    return (await this.databaseNames()).map((name) => ({ name }))
  }

  async createUsers(users: UserSpec[]): Promise<void> {
    for (const u of users) {
      validateMariadbUser(u.name, u.host ?? '%')
      validatePassword(u.password)
      for (const d of u.databases ?? []) validateMariadbDatabase(d.name)
    }
    if (users.length) await this.db.query(...users.flatMap(createUserSql))
  }

  async deleteUser(name: string, host: string): Promise<void> {
    await this.requireUser(name, host)
    await this.db.query({ sql: `DROP USER ${ACCOUNT}`, values: [name, host] })
  }

  async listUsers(): Promise<UserView[]> {
    const [users, grants, dbs] = await Promise.all([this.db.query("SELECT User, Host FROM mysql.user WHERE is_role = 'N'"), this.db.query('SELECT User, Host, Db FROM mysql.db'), this.databaseNames()])
    const existing = new Set(dbs)
    return users
      .filter(([name, host]) => !MARIADB_HIDDEN_USERS.has(name!) && !MARIADB_REPLICATION_USER.test(name!) && host !== 'localhost')
      .map(([name, host]) => ({
        name: name!,
        host: host!,
        databases: [...new Set(grants.filter((g) => g[0] === name && g[1] === host).map((g) => unescapeGrantDb(g[2]!)))]
          .filter((d) => existing.has(d))
          .sort()
          .map((d) => ({ name: d })),
      }))
  }

  async getUser(name: string, host: string): Promise<UserView | null> {
    return (await this.listUsers()).find((u) => u.name === name && u.host === host) ?? null
  }

  private async requireUser(name: string, host: string): Promise<UserView> {
    validateMariadbUser(name, host)
    const u = await this.getUser(name, host)
    if (!u) throw new AccountError('NotFound', `User ${name} cannot be found on the instance.`)
    return u
  }

  async updateAttributes(name: string, host: string, attrs: UserAttributes): Promise<void> {
    await this.requireUser(name, host)
    const newName = attrs.name ?? name
    const newHost = attrs.host ?? host
    const sql: Sql[] = []
    if (newName !== name || newHost !== host) {
      validateMariadbUser(newName, newHost)
      if (await this.getUser(newName, newHost)) throw new AccountError('BadRequest', `A user with the name "${newName}" already exists.`)
      sql.push({ sql: `RENAME USER ${ACCOUNT} TO ${ACCOUNT}`, values: [name, host, newName, newHost] })
    }
    if (attrs.password !== undefined) {
      validatePassword(attrs.password)
      sql.push(alterPasswordSql(newName, newHost, attrs.password))
    }
    if (sql.length) await this.db.query(...sql)
  }

  async changePasswords(users: Array<{ name: string; host?: string; password: string }>): Promise<void> {
    for (const u of users) {
      await this.requireUser(u.name, u.host ?? '%')
      validatePassword(u.password)
    }
    if (users.length) await this.db.query(...users.map((u) => alterPasswordSql(u.name, u.host ?? '%', u.password)))
  }

  async grantAccess(name: string, host: string, databases: string[]): Promise<void> {
    await this.requireUser(name, host)
    const existing = new Set(await this.databaseNames())
    for (const d of databases) {
      validateMariadbDatabase(d)
      if (!existing.has(d)) throw new AccountError('NotFound', `Database ${d} cannot be found on the instance.`)
    }
    if (databases.length) await this.db.query(...databases.map((d) => grantSql(d, name, host)))
  }

  async revokeAccess(name: string, host: string, database: string): Promise<void> {
    const u = await this.requireUser(name, host)
    if (!u.databases.some((d) => d.name === database)) throw new AccountError('NotFound', `Database ${database} cannot be found on the instance.`)
    await this.db.query((q) => ({ sql: `REVOKE ALL PRIVILEGES ON ${grantTarget(q, database)} FROM ${ACCOUNT}`, values: [name, host] }))
  }

  async listAccess(name: string, host: string): Promise<Array<{ name: string }>> {
    return (await this.requireUser(name, host)).databases
  }

  /**
   * root@'%' with ALL ... WITH GRANT OPTION (upstream). root@localhost keeps its
   * unix_socket login: that is how the agent itself gets in (engines.md 1 gotcha).
   */
  async enableRoot(password?: string): Promise<{ name: string; password: string }> {
    const pw = password ?? generatePassword()
    validatePassword(pw)
    const hash = nativePasswordHash(pw)
    await this.db.query(
      { sql: `CREATE USER IF NOT EXISTS 'root'@'%' ${IDENTIFIED}`, values: [hash] },
      { sql: `ALTER USER 'root'@'%' ${IDENTIFIED} ACCOUNT UNLOCK`, values: [hash] },
      `GRANT ALL PRIVILEGES ON *.* TO 'root'@'%' WITH GRANT OPTION`,
    )
    return { name: 'root', password: pw }
  }

  /**
   * Upstream only sets a new random password, which leaves a superuser account that
   * is_root_enabled still reports; dropping root@'%' really disables remote root.
   */
  async disableRoot(): Promise<void> {
    await this.db.query(`DROP USER IF EXISTS 'root'@'%'`)
  }

  async isRootEnabled(): Promise<boolean> {
    const rows = await this.db.query("SELECT COUNT(*) FROM mysql.user WHERE User = 'root' AND Host <> 'localhost'")
    return Number(rows[0]?.[0] ?? 0) > 0
  }
}
