import { readFile } from 'node:fs/promises'
import { connect, type Socket } from 'node:net'
import { dropDriver, keptDriver } from '../drivers.js'

const PROTOCOL_3 = 196608
const TERMINATE = Buffer.from([0x58, 0, 0, 0, 4])

function startupMessage(): Buffer {
  const params = Buffer.from('user\0postgres\0database\0postgres\0application_name\0trove-agent\0\0')
  const msg = Buffer.alloc(8 + params.length)
  msg.writeInt32BE(msg.length, 0)
  msg.writeInt32BE(PROTOCOL_3, 4)
  params.copy(msg, 8)
  return msg
}

/**
 * The postmaster's own readiness flag, line 8 of postmaster.pid ("ready" or, on a hot
 * standby, "standby"): what `pg_ctl -w` polls. Checking it first keeps start-up probes
 * from logging "FATAL: the database system is starting up" at every poll.
 */
export async function postmasterReady(pidFile: string): Promise<boolean> {
  try {
    const status = (await readFile(pidFile, 'utf8')).split('\n')[7]?.trim()
    return status === 'ready' || status === 'standby'
  } catch {
    return false
  }
}

/** Query with an empty string: the server answers EmptyQueryResponse then ReadyForQuery, the cheapest round trip. */
const EMPTY_QUERY = Buffer.from([0x51, 0, 0, 0, 5, 0])

/**
 * The heartbeat's kept session: the backend PostgreSQL forks for a new session costs ~10-25 ms of CPU,
 * so a session per probe (every 200-500 ms on a member of an HA set) was most of an idle instance's
 * CPU. The session stays open; each later probe is one empty query on it. Written on the raw protocol,
 * as the start-up probe was, because node-postgres cannot abandon a query that a stopped (SIGSTOP)
 * server never answers: the socket is destroyed at the timeout here.
 */
class ProbeSession {
  private received = Buffer.alloc(0)
  private waiter: ((ok: boolean) => void) | undefined
  private timer: NodeJS.Timeout | undefined
  private closed = false
  /** Round trips one at a time: a probe that overlaps another waits for it (one waiter per session). */
  private queue: Promise<unknown> = Promise.resolve()

  private constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.received = Buffer.concat([this.received, chunk])
      this.read()
    })
    socket.once('error', () => this.end())
    socket.once('close', () => this.end())
  }

  /** Opens a session as postgres (trust on the 0700 socket directory) and waits for its first ReadyForQuery. */
  static async open(path: string, timeoutMs: number, onEnd: (s: ProbeSession) => void): Promise<ProbeSession> {
    const session = new ProbeSession(connect({ path }))
    session.onEnd = onEnd
    if (await session.roundTrip(startupMessage(), timeoutMs)) return session
    await session.close()
    throw new Error('the probe session was not accepted')
  }

  private onEnd: (s: ProbeSession) => void = () => undefined

  /** One empty query answered within `timeoutMs`; false (and the session closed) otherwise. */
  ping(timeoutMs: number): Promise<boolean> {
    const turn = this.queue.then(async () => {
      if (this.closed) return false
      if (await this.roundTrip(EMPTY_QUERY, timeoutMs)) return true
      await this.close()
      return false
    })
    this.queue = turn
    return turn
  }

  private roundTrip(message: Buffer, timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      this.waiter = resolve
      this.timer = setTimeout(() => this.settle(false), timeoutMs)
      this.socket.write(message)
    })
  }

  private settle(ok: boolean): void {
    clearTimeout(this.timer)
    const w = this.waiter
    this.waiter = undefined
    w?.(ok)
  }

  /** Walks whole messages: ReadyForQuery settles true, an ErrorResponse (57P03 starting up, a terminated session) false. */
  private read(): void {
    while (this.received.length >= 5) {
      const len = this.received.readInt32BE(1)
      if (this.received.length < 1 + len) return
      const type = String.fromCharCode(this.received[0]!)
      const body = this.received.subarray(5, 1 + len)
      this.received = this.received.subarray(1 + len)
      if (type === 'E') {
        this.settle(false)
        this.end()
        return
      }
      // An authentication request other than AuthenticationOk: not our trust set-up.
      if (type === 'R' && body.readInt32BE(0) !== 0) {
        this.settle(false)
        this.end()
        return
      }
      if (type === 'Z') this.settle(true)
    }
  }

  private end(): void {
    if (this.closed) return
    this.closed = true
    this.settle(false)
    this.socket.destroy()
    this.onEnd(this)
  }

  async close(): Promise<void> {
    if (!this.closed && this.socket.writable) this.socket.write(TERMINATE)
    this.end()
  }
}

/**
 * Whether PostgreSQL answers: postmaster.pid says ready (or standby), then a ReadyForQuery on the kept probe
 * session (ProbeSession; opened on the first probe and again after the server ended it). While the server
 * starts up, recovers or shuts down it refuses the session (57P03): "not yet". A server whose connection
 * slots are all taken still answers on the kept session: it is alive, and busy (no failover for that).
 */
export async function postgresPing(socketPath: string, pidFile: string, timeoutMs: number): Promise<boolean> {
  const key = `postgresql-probe:${socketPath}`
  if (!(await postmasterReady(pidFile))) {
    await dropDriver(key)
    return false
  }
  let fresh = false
  let session: ProbeSession
  try {
    session = await keptDriver(key, () => {
      fresh = true
      return ProbeSession.open(socketPath, timeoutMs, (s) => void dropDriver(key, s))
    })
  } catch {
    return false
  }
  // A session just opened has answered its ReadyForQuery: no second round trip.
  return fresh || session.ping(timeoutMs)
}
