import { AccountError, CONTROL_CHARS, generatePassword, runQuery, type Accounts, type DatabaseSpec, type UserAttributes, type UserSpec, type UserView } from '../accounts.js'

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
 * no trailing space. Identifiers are double-quoted, so that is safe; control
 * characters are refused too (they would break the client's line output).
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

/** A double-quoted identifier. */
export const pgIdent = (name: string): string => '"' + name.replace(/"/g, '""') + '"'
/** A standard-conforming string literal (backslashes are plain characters). */
export const pgLit = (s: string): string => "'" + s.replace(/'/g, "''") + "'"
/** A libpq conninfo value (for psql -d): single quotes, backslash escapes. */
export const conninfoValue = (s: string): string => "'" + s.replace(/\\/g, '\\\\').replace(/'/g, "\\'") + "'"

export function createDatabaseSql(db: DatabaseSpec): string[] {
  const opts: string[] = []
  if (db.character_set !== undefined) {
    if (!ENCODING.test(db.character_set)) throw new AccountError('BadRequest', `'${db.character_set}' is not a valid character set.`)
    opts.push(`ENCODING ${pgLit(db.character_set)}`)
  }
  if (db.collate !== undefined) {
    if (!COLLATION.test(db.collate)) throw new AccountError('BadRequest', `'${db.collate}' is not a valid collation.`)
    opts.push(`LC_COLLATE ${pgLit(db.collate)} LC_CTYPE ${pgLit(db.collate)}`)
  }
  // template1's encoding/locale can only be changed when copying the pristine template0.
  const template = opts.length ? ' TEMPLATE template0' : ''
  return [
    `CREATE DATABASE ${pgIdent(db.name)}${template}${opts.length ? ' ' + opts.join(' ') : ''};`,
    // Only users granted access may connect (upstream revokes PUBLIC's CONNECT too).
    `REVOKE CONNECT, TEMPORARY ON DATABASE ${pgIdent(db.name)} FROM PUBLIC;`,
  ]
}

/** Grant on the database, plus the public schema inside it: PG15 no longer lets PUBLIC create there (engines.md 2). */
export const grantDatabaseSql = (user: string, db: string): string => `GRANT ALL PRIVILEGES ON DATABASE ${pgIdent(db)} TO ${pgIdent(user)};`
export const grantSchemaSql = (user: string): string => `GRANT ALL ON SCHEMA public TO ${pgIdent(user)};`

export interface PostgresClient {
  /** Runs statements as postgres in `database` (default postgres); rows of tab-separated fields. */
  query(sql: string, database?: string): Promise<string[][]>
}

/** psql as the run user (setpriv) over the 0700 socket directory, where postgres logs in by trust. */
export function postgresClient(psql: string, runDir: string, port: number, runUser: string): PostgresClient {
  return {
    async query(sql, database = 'postgres') {
      return runQuery({
        file: 'setpriv',
        args: [
          `--reuid=${runUser}`,
          `--regid=${runUser}`,
          '--init-groups',
          '--',
          psql,
          '-X',
          '-q',
          '-A',
          '-t',
          '-F',
          '\t',
          '-v',
          'ON_ERROR_STOP=1',
          '-h',
          runDir,
          '-p',
          String(port),
          '-U',
          'postgres',
          '-d',
          `dbname=${conninfoValue(database)}`,
        ],
        input: sql + '\n',
      })
    },
  }
}

/** PostgreSQL roles, databases and root (internals.md 4.2, engines.md 2). Users have no host: always '%'. */
export class PostgresAccounts implements Accounts {
  constructor(private readonly pg: PostgresClient) {}

  private async databaseNames(): Promise<string[]> {
    const rows = await this.pg.query('SELECT datname FROM pg_database WHERE NOT datistemplate ORDER BY datname;')
    return rows.map((r) => r[0]!).filter((n) => !PG_HIDDEN_DBS.has(n))
  }

  async createDatabases(dbs: DatabaseSpec[]): Promise<void> {
    for (const d of dbs) validatePostgresDatabase(d.name)
    // CREATE DATABASE cannot run in a transaction block: psql sends each statement on its own.
    if (dbs.length) await this.pg.query(dbs.flatMap(createDatabaseSql).join('\n'))
  }

  async deleteDatabase(name: string): Promise<void> {
    validatePostgresDatabase(name)
    if (!(await this.databaseNames()).includes(name)) throw new AccountError('NotFound', `Database ${name} cannot be found on the instance.`)
    await this.pg.query(`DROP DATABASE ${pgIdent(name)} WITH (FORCE);`)
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
      await this.pg.query(`CREATE ROLE ${pgIdent(u.name)} LOGIN PASSWORD ${pgLit(u.password)};`)
      await this.grant(
        u.name,
        (u.databases ?? []).map((d) => d.name),
      )
    }
  }

  private async grant(user: string, dbs: string[]): Promise<void> {
    if (!dbs.length) return
    await this.pg.query(dbs.map((d) => grantDatabaseSql(user, d)).join('\n'))
    for (const d of dbs) await this.pg.query(grantSchemaSql(user), d)
  }

  /** REASSIGN/DROP OWNED must run in every database the role may own or have grants in (engines.md 2). */
  async deleteUser(name: string, _host: string): Promise<void> {
    await this.requireUser(name)
    const dbs = (await this.pg.query('SELECT datname FROM pg_database WHERE datallowconn ORDER BY datname;')).map((r) => r[0]!)
    for (const d of dbs) await this.pg.query(`REASSIGN OWNED BY ${pgIdent(name)} TO postgres;\nDROP OWNED BY ${pgIdent(name)};`, d)
    await this.pg.query(`DROP ROLE ${pgIdent(name)};`)
  }

  async listUsers(): Promise<UserView[]> {
    const [roles, grants] = await Promise.all([
      this.pg.query("SELECT rolname FROM pg_roles WHERE rolcanlogin AND rolname !~ '^pg_' ORDER BY rolname;"),
      this.pg.query(
        `SELECT r.rolname, d.datname FROM pg_database d, aclexplode(d.datacl) a, pg_roles r
         WHERE a.grantee = r.oid AND a.privilege_type = 'CONNECT' AND NOT d.datistemplate ORDER BY d.datname;`,
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
      await this.pg.query(`ALTER ROLE ${pgIdent(name)} RENAME TO ${pgIdent(attrs.name)};`)
      current = attrs.name
    }
    if (attrs.password !== undefined) {
      validatePassword(attrs.password)
      await this.pg.query(`ALTER ROLE ${pgIdent(current)} PASSWORD ${pgLit(attrs.password)};`)
    }
  }

  async changePasswords(users: Array<{ name: string; host?: string; password: string }>): Promise<void> {
    for (const u of users) {
      await this.requireUser(u.name)
      validatePassword(u.password)
    }
    if (users.length) await this.pg.query(users.map((u) => `ALTER ROLE ${pgIdent(u.name)} PASSWORD ${pgLit(u.password)};`).join('\n'))
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
    await this.pg.query(`REVOKE ALL ON SCHEMA public FROM ${pgIdent(name)};`, database)
    await this.pg.query(`REVOKE ALL PRIVILEGES ON DATABASE ${pgIdent(database)} FROM ${pgIdent(name)};`)
  }

  async listAccess(name: string, _host: string): Promise<Array<{ name: string }>> {
    return (await this.requireUser(name)).databases
  }

  async enableRoot(password?: string): Promise<{ name: string; password: string }> {
    const pw = password ?? generatePassword()
    validatePassword(pw)
    const exists = (await this.pg.query("SELECT 1 FROM pg_roles WHERE rolname = 'root';")).length > 0
    const attrs = 'SUPERUSER CREATEDB CREATEROLE INHERIT REPLICATION BYPASSRLS LOGIN'
    await this.pg.query(`${exists ? 'ALTER' : 'CREATE'} ROLE root WITH ${attrs} PASSWORD ${pgLit(pw)};`)
    return { name: 'root', password: pw }
  }

  /**
   * Upstream sets a new random password and leaves a superuser that can log in; here the
   * role stays (it may own objects) but can no longer log in and has no password.
   */
  async disableRoot(): Promise<void> {
    const exists = (await this.pg.query("SELECT 1 FROM pg_roles WHERE rolname = 'root';")).length > 0
    if (exists) await this.pg.query('ALTER ROLE root WITH NOLOGIN PASSWORD NULL;')
  }

  async isRootEnabled(): Promise<boolean> {
    return (await this.pg.query("SELECT 1 FROM pg_roles WHERE rolname = 'root' AND rolcanlogin;")).length > 0
  }
}
