import type { Client, DatabaseError } from 'pg'
import { dropDriver, keptDriver } from '../drivers.js'

/** node-postgres's quoting, handed to statements that name identifiers. */
export interface Quote {
  /** An identifier quoted by the driver (double quotes, inner ones doubled). */
  id(name: string): string
  /**
   * A string literal quoted by the driver, only for utility statements (CREATE/ALTER
   * ROLE ... PASSWORD, CREATE DATABASE ... ENCODING) where PostgreSQL takes no parameters.
   */
  lit(value: string): string
}

/** A statement: plain SQL; SQL with $1.. parameters and their values; or built from the driver's quoting. */
export type Sql = string | { sql: string; values: unknown[] } | ((q: Quote) => string | { sql: string; values: unknown[] })

export interface PostgresClient {
  /**
   * Runs the statements one after another as postgres in `database` (default postgres),
   * each on its own (CREATE DATABASE and ALTER SYSTEM refuse a transaction block); the
   * rows of all of them, every field as the server's text (booleans 't'/'f', NULL as ''), as psql printed them.
   */
  query(statements: Sql | Sql[], database?: string): Promise<string[][]>
}

type Driver = typeof import('pg')
let loading: Promise<Driver> | undefined
/**
 * node-postgres, loaded the first time a PostgreSQL instance needs it. When it loads it
 * probes for Cloudflare Workers: without a global `navigator` (Node 20) it touches the
 * global `Response`, whose lazy load compiles WebAssembly, which the agent's --jitless
 * turns off: the agent died on its first PostgreSQL statement. Node 21 and later define
 * `navigator` ("Node.js/<major>"); on Node 20 the same value is defined for the import only.
 */
const driver = (): Promise<Driver> =>
  (loading ??= (async () => {
    const g = globalThis as { navigator?: unknown }
    const shim = g.navigator === undefined
    if (shim) Object.defineProperty(globalThis, 'navigator', { value: { userAgent: `Node.js/${process.versions.node.split('.')[0]}` }, configurable: true, writable: true })
    try {
      const m = await import('pg')
      return (m as unknown as { default: Driver }).default ?? m
    } finally {
      if (shim) delete g.navigator
    }
  })())

/** The server's error as psql printed it ("ERROR:  role ... already exists"): the guest faults keep their text. */
function clientError(e: unknown): Error {
  const d = e as Partial<DatabaseError>
  if (typeof d.severity === 'string' && typeof d.message === 'string') return new Error(`${d.severity}:  ${d.message}`)
  return new Error(`psql: ${e instanceof Error ? e.message : String(e)}`)
}

interface Conn {
  client: Client
  close(): Promise<void>
}

/**
 * A connection as postgres over the 0700 socket directory (pg_hba trusts only that
 * role on the socket: config.ts; only root and the run user reach it). Every field comes back as the server's text:
 * callers compare what psql printed.
 */
async function connect(runDir: string, port: number, database: string): Promise<Conn> {
  const pg = await driver()
  const identity = (v: string) => v
  // The agent's own sessions (one kept connection):
  // - synchronous_commit=local: they never wait for a replica's acknowledgement (docs/ha.md "Synchronous
  //   replication"); a single waiting commit would hold every later statement of the agent, sync_view and the
  //   set_sync_replication that releases the wait included.
  // - log_statement=none, log_min_duration_statement=-1: their statements (status polls every few hundred ms,
  //   the archive's heartbeat) stay out of the user's general log (logs.ts: every statement when it is on):
  //   they drowned the user's statements and grew the log on the user's volume. Superuser settings, per session.
  const client = new pg.Client({
    host: runDir,
    port,
    user: 'postgres',
    database,
    connectionTimeoutMillis: 30_000,
    options: '-c synchronous_commit=local -c log_statement=none -c log_min_duration_statement=-1',
    types: { getTypeParser: () => identity },
  })
  client.on('error', () => undefined)
  await client.connect().catch((e: unknown) => {
    throw clientError(e)
  })
  return { client, close: () => client.end().catch(() => undefined) }
}

const text = (v: unknown): string => (v === null || v === undefined ? '' : String(v))

async function run(client: Client, pg: Driver, statements: Sql[]): Promise<string[][]> {
  const q: Quote = { id: (n) => pg.escapeIdentifier(n), lit: (v) => pg.escapeLiteral(v) }
  const rows: string[][] = []
  for (const st of statements) {
    const s = typeof st === 'function' ? st(q) : st
    const res = await (typeof s === 'string' ? client.query({ text: s, rowMode: 'array' }) : client.query({ text: s.sql, values: s.values, rowMode: 'array' })).catch((e: unknown) => {
      throw clientError(e)
    })
    for (const r of Array.isArray(res) ? res : [res]) for (const row of (r.rows ?? []) as unknown[][]) rows.push(row.map(text))
  }
  return rows
}

/**
 * The postgres database's connection is kept (dropped when the server ends it: the next
 * statement reconnects); statements in another database (grants in its public schema,
 * DROP OWNED) get a connection of their own for the call, so DROP DATABASE never waits on ours.
 */
export function postgresClient(runDir: string, port: number): PostgresClient {
  const key = `postgresql:${runDir}:${port}`
  return {
    async query(statements, database = 'postgres') {
      const list = Array.isArray(statements) ? statements : [statements]
      const pg = await driver()
      if (database !== 'postgres') {
        const once = await connect(runDir, port, database)
        try {
          return await run(once.client, pg, list)
        } finally {
          await once.close()
        }
      }
      const kept = await keptDriver<Conn>(key, async () => {
        const c = await connect(runDir, port, 'postgres')
        c.client.on('error', () => void dropDriver(key, c))
        c.client.on('end', () => void dropDriver(key, c))
        return c
      })
      return run(kept.client, pg, list)
    },
  }
}
