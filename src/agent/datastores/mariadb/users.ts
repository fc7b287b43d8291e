import { createHash } from 'node:crypto'
import { AccountError, CONTROL_CHARS, generatePassword, runQuery, type Accounts, type DatabaseSpec, type UserAttributes, type UserSpec, type UserView } from '../accounts.js'

/** Databases never listed nor touchable (internals.md 4.1; MariaDB has sys too). */
export const MARIADB_HIDDEN_DBS = new Set(['mysql', 'information_schema', 'performance_schema', 'sys', 'lost+found'])
/** Upstream's ignore_users, plus MariaDB's own system accounts and roles. */
export const MARIADB_HIDDEN_USERS = new Set(['os_admin', 'root', 'mariadb.sys', 'PUBLIC', ''])
/** The replication accounts the agent creates (replication.ts: slave_<8 hex>): system accounts, never listed. */
const MARIADB_REPLICATION_USER = /^slave_[0-9a-f]{8}$/

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
  if (MARIADB_HIDDEN_USERS.has(name)) throw new AccountError('BadRequest', `'${name}' is a reserved user name.`)
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

/** A backquoted identifier. */
export const ident = (name: string): string => '`' + name.replace(/`/g, '``') + '`'
/** A string literal (the server runs without NO_BACKSLASH_ESCAPES). */
export const lit = (s: string): string => "'" + s.replace(/\\/g, '\\\\').replace(/'/g, "''").replace(/\0/g, '\\0') + "'"
export const account = (name: string, host: string): string => `${lit(name)}@${lit(host)}`

/**
 * The mysql_native_password hash of a password: '*' and SHA1(SHA1(password)) in upper-case
 * hex, what PASSWORD() computes. Statements carry this hash (IDENTIFIED BY PASSWORD '*...'),
 * never the clear password: statements go to the binlog, which travels to replicas and backups.
 */
export function nativePasswordHash(password: string): string {
  const inner = createHash('sha1').update(password, 'utf8').digest()
  return '*' + createHash('sha1').update(inner).digest('hex').toUpperCase()
}

/** `IDENTIFIED BY PASSWORD '*hash'`: the clause for CREATE/ALTER USER, without the clear password. */
export const identifiedBy = (password: string): string => `IDENTIFIED BY PASSWORD ${lit(nativePasswordHash(password))}`
/**
 * A database in GRANT ... ON `db`.*: `_` and `%` are wildcards there, so upstream's
 * unescaped grant on `my_db` also opened `myXdb`. Escaped, it opens exactly `my_db`.
 */
export const grantTarget = (db: string): string => ident(db.replace(/([_%])/g, '\\$1')) + '.*'
/** mysql.db stores the escaped pattern; back to the database name. */
export const unescapeGrantDb = (db: string): string => db.replace(/\\([_%\\])/g, '$1')

export function createDatabaseSql(db: DatabaseSpec): string {
  const charset = db.character_set ?? 'utf8mb3'
  const collate = db.collate ?? (db.character_set ? undefined : 'utf8mb3_general_ci')
  if (!CHARSET.test(charset)) throw new AccountError('BadRequest', `'${charset}' is not a valid character set.`)
  if (collate !== undefined && !CHARSET.test(collate)) throw new AccountError('BadRequest', `'${collate}' is not a valid collation.`)
  return `CREATE DATABASE ${ident(db.name)} CHARACTER SET ${charset}${collate ? ` COLLATE ${collate}` : ''};`
}

export function createUserSql(u: UserSpec): string {
  const host = u.host ?? '%'
  const who = account(u.name, host)
  return [`CREATE USER ${who} ${identifiedBy(u.password)};`, ...(u.databases ?? []).map((d) => `GRANT ALL PRIVILEGES ON ${grantTarget(d.name)} TO ${who};`)].join('\n')
}

export interface MariadbClient {
  /** Runs statements as root over the unix socket; the rows of the last result, tab-separated fields. */
  query(sql: string): Promise<string[][]>
}

/** The `mariadb` client as OS root over the socket (unix_socket auth), statements on stdin. */
export function mariadbClient(cnf: string, socket: string): MariadbClient {
  return {
    async query(sql) {
      return runQuery({
        file: 'mariadb',
        args: [`--defaults-file=${cnf}`, `--socket=${socket}`, '-uroot', '--batch', '--raw', '--skip-column-names'],
        input: sql + '\n',
      })
    },
  }
}

/** MariaDB/MySQL users, databases and root (internals.md 4.1, engines.md 1). */
export class MariadbAccounts implements Accounts {
  constructor(private readonly db: MariadbClient) {}

  private async databaseNames(): Promise<string[]> {
    const rows = await this.db.query('SHOW DATABASES;')
    return rows.map((r) => r[0]!).filter((n) => !MARIADB_HIDDEN_DBS.has(n.toLowerCase()))
  }

  async createDatabases(dbs: DatabaseSpec[]): Promise<void> {
    for (const d of dbs) validateMariadbDatabase(d.name)
    if (dbs.length) await this.db.query(dbs.map(createDatabaseSql).join('\n'))
  }

  async deleteDatabase(name: string): Promise<void> {
    validateMariadbDatabase(name)
    if (!(await this.databaseNames()).includes(name)) throw new AccountError('NotFound', `Database ${name} cannot be found on the instance.`)
    await this.db.query(`DROP DATABASE ${ident(name)};`)
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
    if (users.length) await this.db.query(users.map(createUserSql).join('\n'))
  }

  async deleteUser(name: string, host: string): Promise<void> {
    await this.requireUser(name, host)
    await this.db.query(`DROP USER ${account(name, host)};`)
  }

  async listUsers(): Promise<UserView[]> {
    const [users, grants, dbs] = await Promise.all([
      this.db.query("SELECT User, Host FROM mysql.user WHERE is_role = 'N';"),
      this.db.query('SELECT User, Host, Db FROM mysql.db;'),
      this.databaseNames(),
    ])
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
    const sql: string[] = []
    if (newName !== name || newHost !== host) {
      validateMariadbUser(newName, newHost)
      if (await this.getUser(newName, newHost)) throw new AccountError('BadRequest', `A user with the name "${newName}" already exists.`)
      sql.push(`RENAME USER ${account(name, host)} TO ${account(newName, newHost)};`)
    }
    if (attrs.password !== undefined) {
      validatePassword(attrs.password)
      sql.push(`ALTER USER ${account(newName, newHost)} ${identifiedBy(attrs.password)};`)
    }
    if (sql.length) await this.db.query(sql.join('\n'))
  }

  async changePasswords(users: Array<{ name: string; host?: string; password: string }>): Promise<void> {
    for (const u of users) {
      await this.requireUser(u.name, u.host ?? '%')
      validatePassword(u.password)
    }
    if (users.length) await this.db.query(users.map((u) => `ALTER USER ${account(u.name, u.host ?? '%')} ${identifiedBy(u.password)};`).join('\n'))
  }

  async grantAccess(name: string, host: string, databases: string[]): Promise<void> {
    await this.requireUser(name, host)
    const existing = new Set(await this.databaseNames())
    for (const d of databases) {
      validateMariadbDatabase(d)
      if (!existing.has(d)) throw new AccountError('NotFound', `Database ${d} cannot be found on the instance.`)
    }
    if (databases.length) await this.db.query(databases.map((d) => `GRANT ALL PRIVILEGES ON ${grantTarget(d)} TO ${account(name, host)};`).join('\n'))
  }

  async revokeAccess(name: string, host: string, database: string): Promise<void> {
    const u = await this.requireUser(name, host)
    if (!u.databases.some((d) => d.name === database)) throw new AccountError('NotFound', `Database ${database} cannot be found on the instance.`)
    await this.db.query(`REVOKE ALL PRIVILEGES ON ${grantTarget(database)} FROM ${account(name, host)};`)
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
    await this.db.query(
      [`CREATE USER IF NOT EXISTS 'root'@'%' ${identifiedBy(pw)};`, `ALTER USER 'root'@'%' ${identifiedBy(pw)} ACCOUNT UNLOCK;`, `GRANT ALL PRIVILEGES ON *.* TO 'root'@'%' WITH GRANT OPTION;`].join(
        '\n',
      ),
    )
    return { name: 'root', password: pw }
  }

  /**
   * Upstream only sets a new random password, which leaves a superuser account that
   * is_root_enabled still reports; dropping root@'%' really disables remote root.
   */
  async disableRoot(): Promise<void> {
    await this.db.query(`DROP USER IF EXISTS 'root'@'%';`)
  }

  async isRootEnabled(): Promise<boolean> {
    const rows = await this.db.query("SELECT COUNT(*) FROM mysql.user WHERE User = 'root' AND Host <> 'localhost';")
    return Number(rows[0]?.[0] ?? 0) > 0
  }
}
