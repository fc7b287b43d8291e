import { userInfo } from 'node:os'
import type { Connection, SqlError } from 'mariadb'
import { dropDriver, keptDriver } from '../drivers.js'

/** The connector's quoting, handed to statements that name identifiers. */
export interface Quote {
  /** An identifier quoted by the connector (backquotes, inner ones doubled). */
  id(name: string): string
}

/**
 * A statement: plain SQL; SQL with `?` placeholders and the values the connector
 * escapes into them; or a function building either from the connector's identifier quoting.
 */
export type Sql = string | { sql: string; values: unknown[] } | ((q: Quote) => string | { sql: string; values: unknown[] })

export interface MariadbClient {
  /** Runs the statements in order as root over the unix socket; the rows of the last one, every field as text (NULL as 'NULL', as the client printed it). */
  query(...statements: Sql[]): Promise<string[][]>
  /** One statement's rows as column name → text (SHOW SLAVE STATUS). */
  records(sql: string): Promise<Array<Record<string, string>>>
}

/**
 * The account the agent logs in as over the socket (unix_socket: the OS user's own name, no password).
 * On the host the agent is root; in a sandbox (docs/isolation.md) it is the instance's user, whom
 * install-db then makes the second unix_socket superuser (`--auth-root-socket-user`).
 */
export const AGENT_DB_USER = process.getuid?.() === 0 ? 'root' : userInfo().username

type Driver = typeof import('mariadb')
let loading: Promise<Driver> | undefined
/** MariaDB's connector, loaded the first time a MariaDB instance needs it. */
const driver = (): Promise<Driver> => (loading ??= import('mariadb'))

/** What the client printed for a field in --batch --raw mode. */
function text(v: unknown): string {
  if (v === null || v === undefined) return 'NULL'
  if (Buffer.isBuffer(v)) return v.toString('utf8')
  return String(v)
}

/** The connector's error as the `mariadb` client printed it ("ERROR 1396 (HY000): ..."): the guest faults keep their text. */
function clientError(e: unknown): Error {
  const s = e as Partial<SqlError>
  if (typeof s.errno === 'number' && typeof s.text === 'string' && s.sqlState) return new Error(`ERROR ${s.errno} (${s.sqlState}): ${s.text}`)
  return e instanceof Error ? new Error(`mariadb: ${s.text ?? e.message}`) : new Error(String(e))
}

interface Kept {
  conn: Connection
  close(): Promise<void>
}

/**
 * One connection as root over the socket, kept by the agent (unix_socket auth: the
 * agent runs as OS root, so no password exists to leak). When the server goes away
 * (restart, crash) the connection ends and is dropped; the next statement reconnects.
 */
async function connection(socket: string): Promise<Connection> {
  const key = `mariadb:${socket}`
  const kept = await keptDriver<Kept>(key, async () => {
    const { createConnection } = await driver()
    // sql_log_off: the agent's own statements (status polls, the archive) stay out of the user's general
    // log (a superuser's session setting), as the PostgreSQL agent's do.
    const conn = await createConnection({
      socketPath: socket,
      user: AGENT_DB_USER,
      initSql: 'SET SESSION sql_log_off = 1',
      connectTimeout: 30_000,
      rowsAsArray: true,
      dateStrings: true,
      bigIntAsNumber: false,
      insertIdAsNumber: true,
    }).catch((e) => {
      throw clientError(e)
    })
    const handle: Kept = { conn, close: () => conn.end().catch(() => conn.destroy()) }
    conn.on('error', () => void dropDriver(key, handle))
    conn.on('end', () => void dropDriver(key, handle))
    return handle
  })
  return kept.conn
}

export function mariadbClient(socket: string): MariadbClient {
  return {
    async query(...statements) {
      const conn = await connection(socket)
      let rows: unknown = []
      const q: Quote = { id: (name) => conn.escapeId(name) }
      for (const st of statements) {
        const s = typeof st === 'function' ? st(q) : st
        rows = await (typeof s === 'string' ? conn.query(s) : conn.query(s.sql, s.values)).catch((e: unknown) => {
          throw clientError(e)
        })
      }
      return Array.isArray(rows) ? (rows as unknown[][]).map((r) => r.map(text)) : []
    },
    async records(sql) {
      const conn = await connection(socket)
      const rows = (await conn.query({ sql, rowsAsArray: false }).catch((e: unknown) => {
        throw clientError(e)
      })) as Array<Record<string, unknown>>
      return rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, text(v)])))
    },
  }
}
