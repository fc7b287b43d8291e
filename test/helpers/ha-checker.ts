// The HA checker (issue 16 item 7), Jepsen's way in miniature: N clients write unique, increasing keys
// through a replication set's writer endpoint and record each acknowledgement with its time and the server
// that took it; after a fault, every member is read and the history is analysed: acknowledged writes lost,
// split-brain writes, and the time from the fault to the first acknowledged write on the new primary.
// analyse() is pure (unit-tested on synthetic histories: test/helpers/ha-checker-analysis.ts); the writers
// and readers speak each engine's own protocol (pg, mariadb, @redis/client), not a shell client.
import mariadb from 'mariadb'
import pg from 'pg'
import { createClient } from '@redis/client'

/** One write attempt: acknowledged (ackAt, server) or not (error: failed or timed out, its outcome unknown). */
export interface Op {
  key: number
  client: number
  /** Epoch ms when the request was sent. */
  sentAt: number
  /** Epoch ms when its acknowledgement arrived. */
  ackAt?: number
  /** Which server took it (PostgreSQL inet_server_addr(), MariaDB @@server_id, Redis the connection's local address). */
  server?: string
  error?: string
}

/** What a member holds after the run. */
export interface MemberRead {
  /** The server identity, as Op.server names it. */
  server: string
  keys: Iterable<number>
}

export interface History {
  ops: Op[]
  /** Epoch ms of the fault. */
  faultAt: number
  /** The primary's identity before the fault and after the run (the writer endpoint's server, asked again). */
  initialPrimary: string
  finalPrimary: string
  members: MemberRead[]
  /** The run's first key (Writers' firstKey): keys below are an earlier run's on the same set, not read. */
  firstKey?: number
}

export interface CheckerReport {
  attempted: number
  acked: number
  /** Whether the primary changed. */
  failedOver: boolean
  /** Acknowledged keys not on the final primary. */
  lost: number[]
  /** Keys acknowledged by another server than the final primary, sent after the final primary acknowledged its first write after the fault. */
  splitBrain: number[]
  /** Keys on the final primary that no client ever attempted (the checker's own sanity: always empty). */
  phantom: number[]
  /** Fault -> first acknowledgement by the final primary of a write sent after the fault (undefined: none). */
  failoverMs: number | undefined
  /** The longest time without any acknowledgement from the fault on (to the last ack of the run). */
  longestGapMs: number
}

/** The analysis of a history: no engine, no clock; what it reports is computed from the ops and the reads only. */
export function analyse(h: History): CheckerReport {
  const acked = h.ops.filter((o) => o.ackAt !== undefined)
  const final = new Set([...(h.members.find((m) => m.server === h.finalPrimary)?.keys ?? [])].filter((k) => k >= (h.firstKey ?? 0)))
  const attempted = new Set(h.ops.map((o) => o.key))
  const lost = acked.filter((o) => !final.has(o.key)).map((o) => o.key)
  const firstNew = acked.filter((o) => o.server === h.finalPrimary && o.sentAt >= h.faultAt).reduce((m, o) => Math.min(m, o.ackAt!), Number.POSITIVE_INFINITY)
  const splitBrain = acked.filter((o) => o.server !== h.finalPrimary && o.sentAt > firstNew).map((o) => o.key)
  const phantom = [...final].filter((k) => !attempted.has(k))
  const acks = [h.faultAt, ...acked.map((o) => o.ackAt!).filter((a) => a >= h.faultAt)].sort((a, b) => a - b)
  let longestGapMs = 0
  for (let i = 1; i < acks.length; i++) longestGapMs = Math.max(longestGapMs, acks[i]! - acks[i - 1]!)
  const sort = (xs: number[]) => xs.sort((a, b) => a - b)
  return {
    attempted: h.ops.length,
    acked: acked.length,
    failedOver: h.initialPrimary !== h.finalPrimary,
    lost: sort(lost),
    splitBrain: sort(splitBrain),
    phantom: sort(phantom),
    failoverMs: Number.isFinite(firstNew) ? firstNew - h.faultAt : undefined,
    longestGapMs,
  }
}

/** One line of a report (test comments, bench output). */
export function reportLine(r: CheckerReport): string {
  const ms = r.failoverMs === undefined ? 'none' : `${(r.failoverMs / 1000).toFixed(2)} s`
  return `acked ${r.acked}/${r.attempted}, failover ${r.failedOver ? 'yes' : 'no'}, first ack on the new primary after ${ms}, longest gap ${(r.longestGapMs / 1000).toFixed(2)} s, lost ${r.lost.length}, split-brain ${r.splitBrain.length}`
}

// ------------------------------------------------------------------ engines

export type Engine = 'postgresql' | 'mariadb' | 'redis'

/** Where and as whom the clients connect (the writer endpoint, or a member's own address to read it). */
export interface Target {
  engine: Engine
  host: string
  port: number
  user: string
  password: string
  /** The database (PostgreSQL, MariaDB). */
  database?: string
}

/** One connection: writes a key and answers the server that took it; reads a member. */
interface Conn {
  write(key: number, client: number): Promise<string>
  identity(): Promise<string>
  keys(): Promise<number[]>
  /** Makes the checker's table (nothing for Redis). */
  prepare(): Promise<void>
  close(): void
}

const TABLE = 'ha_check'
const REDIS_PREFIX = 'ha:'

async function connect(t: Target, timeoutMs: number): Promise<Conn> {
  if (t.engine === 'postgresql') {
    const c = new pg.Client({ host: t.host, port: t.port, user: t.user, password: t.password, database: t.database, connectionTimeoutMillis: timeoutMs, query_timeout: timeoutMs })
    c.on('error', () => undefined)
    await c.connect()
    return {
      write: async (k, client) => (await c.query<{ srv: string }>(`INSERT INTO ${TABLE} (k, c, srv) VALUES ($1, $2, host(inet_server_addr())) RETURNING srv`, [k, client])).rows[0]!.srv,
      identity: async () => (await c.query<{ srv: string }>('SELECT host(inet_server_addr()) AS srv')).rows[0]!.srv,
      keys: async () => (await c.query<{ k: string }>(`SELECT k FROM ${TABLE}`)).rows.map((r) => Number(r.k)),
      prepare: async () => void (await c.query(`CREATE TABLE IF NOT EXISTS ${TABLE} (k bigint PRIMARY KEY, c int, srv text)`)),
      close: () => void c.end().catch(() => undefined),
    }
  }
  if (t.engine === 'mariadb') {
    const c = await mariadb.createConnection({ host: t.host, port: t.port, user: t.user, password: t.password, database: t.database, connectTimeout: timeoutMs, socketTimeout: timeoutMs })
    c.on('error', () => undefined)
    return {
      write: async (k, client) => String(((await c.query(`INSERT INTO ${TABLE} (k, c, srv) VALUES (?, ?, @@server_id) RETURNING srv`, [k, client])) as Array<{ srv: string }>)[0]!.srv),
      identity: async () => String(((await c.query('SELECT @@server_id AS srv')) as Array<{ srv: unknown }>)[0]!.srv),
      keys: async () => ((await c.query(`SELECT k FROM ${TABLE}`)) as Array<{ k: unknown }>).map((r) => Number(r.k)),
      prepare: async () => void (await c.query(`CREATE TABLE IF NOT EXISTS ${TABLE} (k BIGINT PRIMARY KEY, c INT, srv VARCHAR(64))`)),
      close: () => void c.destroy(),
    }
  }
  const c = createClient({ socket: { host: t.host, port: t.port, connectTimeout: timeoutMs, reconnectStrategy: false }, username: t.user, password: t.password })
  c.on('error', () => undefined)
  await c.connect()
  // The server's side of this connection (CLIENT INFO's laddr): the member's own address, as inet_server_addr().
  const laddr = (info: unknown) => /laddr=([^ ]+):\d+/.exec(String(info))?.[1] ?? '?'
  return {
    write: async (k, client) => {
      const [, info] = await c.multi().set(`${REDIS_PREFIX}${k}`, String(client)).sendCommand(['CLIENT', 'INFO']).exec()
      return laddr(info)
    },
    identity: async () => laddr(await c.sendCommand(['CLIENT', 'INFO'])),
    keys: async () => {
      const keys: number[] = []
      for await (const batch of c.scanIterator({ MATCH: `${REDIS_PREFIX}*`, COUNT: 1000 })) for (const key of batch) keys.push(Number(String(key).slice(REDIS_PREFIX.length)))
      return keys
    },
    prepare: async () => undefined,
    close: () => c.destroy(),
  }
}

/** A promise that fails after `ms` (the op's outcome is then unknown: recorded as an error, never as an ack). */
function within<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer in ${ms} ms`)), ms)
  })
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer))
}

/** Runs `f` on a fresh connection to `t`, closed after. */
export async function withConn<T>(t: Target, f: (c: Conn) => Promise<T>, timeoutMs = 5000): Promise<T> {
  const c = await within(connect(t, timeoutMs), timeoutMs)
  try {
    return await within(f(c), timeoutMs)
  } finally {
    c.close()
  }
}

/** Makes the checker's table (SQL engines) through `t` (the writer endpoint): it replicates to every member. */
export async function prepare(t: Target): Promise<void> {
  await withConn(t, (c) => c.prepare())
}

/** The server identity and the checker's keys of one member, read at its own address. */
export function readMember(t: Target): Promise<MemberRead> {
  return withConn(t, async (c) => ({ server: await c.identity(), keys: await c.keys() }), 30_000)
}

/** The server behind `t` (the writer endpoint: the current primary). */
export function serverOf(t: Target): Promise<string> {
  return withConn(t, (c) => c.identity())
}

export interface Writers {
  readonly ops: Op[]
  /** Acknowledged ops so far. */
  acked(): number
  /** Resolves true once `n` more ops are acknowledged after now (false: the deadline ended a hang). */
  moreAcks(n: number, deadlineMs?: number): Promise<boolean>
  /** Resolves true once an acknowledged op satisfies `test` (ops acknowledged before the call count too). */
  until(test: (op: Op) => boolean, deadlineMs?: number): Promise<boolean>
  /** Stops every client (each finishes or times out its op in flight) and answers the history's ops. */
  stop(): Promise<Op[]>
}

/**
 * N clients, each a loop on its own connection to the writer endpoint: take the next key (one counter for
 * all: unique and increasing), send it, record the ack or the error; after an error, a new connection.
 * An op without an answer in `opTimeoutMs` is recorded as an error (its outcome unknown), never as an ack.
 */
export function startWriters(t: Target, o: { clients: number; opTimeoutMs?: number; firstKey?: number }): Writers {
  const ops: Op[] = []
  const timeout = o.opTimeoutMs ?? 2000
  let next = o.firstKey ?? 1
  let stopping = false
  let ackCount = 0
  // Conditions waited on, checked at every acknowledgement (no polling).
  const waiters = new Set<{ done: (op: Op) => boolean; resolve: (ok: boolean) => void }>()
  const ack = (op: Op) => {
    ackCount++
    for (const w of waiters)
      if (w.done(op)) {
        waiters.delete(w)
        w.resolve(true)
      }
  }
  const wait = (done: (op: Op) => boolean, deadlineMs: number) =>
    new Promise<boolean>((resolve) => {
      const w = { done, resolve }
      waiters.add(w)
      setTimeout(() => {
        if (waiters.delete(w)) resolve(false)
      }, deadlineMs).unref()
    })
  const loop = async (client: number) => {
    let conn: Conn | undefined
    while (!stopping) {
      try {
        conn ??= await within(connect(t, timeout), timeout)
      } catch {
        conn = undefined
        // Nothing listens (an endpoint without a server, a partition): the next try follows the connect's own timeout or refusal.
        await new Promise((r) => setTimeout(r, 50))
        continue
      }
      const op: Op = { key: next++, client, sentAt: Date.now() }
      ops.push(op)
      try {
        op.server = await within(conn.write(op.key, client), timeout)
        op.ackAt = Date.now()
        ack(op)
      } catch (e) {
        op.error = (e as Error).message
        conn.close()
        conn = undefined
      }
    }
    conn?.close()
  }
  const loops = Array.from({ length: o.clients }, (_, i) => loop(i + 1))
  return {
    ops,
    acked: () => ackCount,
    moreAcks(n, deadlineMs = 300_000) {
      const at = ackCount + n
      return wait(() => ackCount >= at, deadlineMs)
    },
    until(test, deadlineMs = 300_000) {
      if (ops.some((op) => op.ackAt !== undefined && test(op))) return Promise.resolve(true)
      return wait((op) => test(op), deadlineMs)
    },
    async stop() {
      stopping = true
      await Promise.all(loops)
      for (const w of waiters) w.resolve(false)
      waiters.clear()
      return ops
    },
  }
}
