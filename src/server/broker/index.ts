import { createServer, type Server } from 'node:tls'
import { connectionBudget } from '../connection-budget.js'
import { randomBytes, timingSafeEqual } from 'node:crypto'
import { chmodSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { Aedes, type Client } from 'aedes'
import type { DB } from '../db/index.js'
import { isoNow } from '../db/index.js'
import { agentCredentials } from '../db/agent-credentials.js'
import { settings } from '../db/settings.js'
import { MAX_MQTT_PACKET, agentMay, agentMqttUser, instanceIdFromAgentUser, notificationTopic } from '../../protocol/index.js'
import { sha256 } from '../identity/secrets.js'
import { MAX_CONNECTIONS_PER_SOURCE, PRE_CONNECT_MAX_PACKET, capConnectionsPerSource, guardedConnection } from './limits.js'
import type { BrokerTls } from './tls.js'

type AgentClient = Client & { troveInstanceId?: string; troveSubscriber?: boolean }

function authError(code: 2 | 4 | 5, message: string): Error & { returnCode: number } {
  return Object.assign(new Error(message), { returnCode: code })
}

/**
 * Per-agent MQTT credentials. The secret is 256 random bits, so a salted SHA-256
 * is as strong as a slow hash here and keeps CONNECT cheap with many agents.
 */
export class AgentCredentials {
  constructor(private readonly db: DB) {}

  issue(instanceId: string): { username: string; password: string } {
    const username = agentMqttUser(instanceId)
    const password = randomBytes(32).toString('base64url')
    const salt = randomBytes(16).toString('hex')
    agentCredentials(this.db).put(instanceId, username, salt, sha256(salt + password), isoNow())
    return { username, password }
  }

  verify(username: string, password: string): string | undefined {
    const row = agentCredentials(this.db).byUsername(username)
    if (!row) return undefined
    const got = Buffer.from(sha256(row.salt + password), 'hex')
    return timingSafeEqual(got, Buffer.from(row.digest, 'hex')) ? row.instance_id : undefined
  }

  revoke(instanceId: string): void {
    agentCredentials(this.db).delete(instanceId)
  }
}

/** The MQTT user external subscribers log in as (read-only, notifications only). */
export const NOTIFICATIONS_MQTT_USER = 'notifications'
/** Every notification (notificationTopic(event) for any event). */
export const NOTIFICATIONS_TOPIC_FILTER = notificationTopic('#')
const SUBSCRIBER_KEY = 'broker.subscriber.notifications'

/**
 * May the notifications subscriber subscribe to `filter`? Only filters inside the
 * notification subtree (notificationTopic(x) for any x, wildcards allowed in x): a filter
 * such as `#`, `trove/#` or `+/notify/#` could also match agents' rpc traffic.
 */
export function subscriberMay(filter: string): boolean {
  const prefix = notificationTopic('')
  return filter.startsWith(prefix) && filter.length > prefix.length
}

/**
 * What `DIR/notifications.json` holds (mode 0600): how a lab user subscribes to
 * notifications. The broker speaks TLS only; `ca` is the path of the lab's CA certificate.
 */
export interface SubscriberFile {
  host: string
  port: number
  ca: string
  username: string
  password: string
  topic: string
}

/**
 * The credential of external notification subscribers: one MQTT user, its secret
 * hashed in `settings` exactly as agent secrets are (salted SHA-256 of 256 random
 * bits). The clear secret lives only in the 0600 file handed to the lab's owner.
 */
export class SubscriberCredentials {
  constructor(private readonly db: DB) {}

  verify(username: string, password: string): boolean {
    if (username !== NOTIFICATIONS_MQTT_USER) return false
    const raw = settings(this.db).get(SUBSCRIBER_KEY)
    if (!raw) return false
    const row = JSON.parse(raw) as { salt: string; digest: string }
    const got = Buffer.from(sha256(row.salt + password), 'hex')
    const want = Buffer.from(row.digest, 'hex')
    return got.length === want.length && timingSafeEqual(got, want)
  }

  /**
   * Creates the credential once and (re)writes `file` with the broker's current
   * address: an existing file whose password still verifies keeps it; otherwise a
   * new secret replaces the stored one.
   */
  ensure(file: string, at: { host: string; port: number; ca: string }): SubscriberFile {
    let password: string | undefined
    if (existsSync(file)) {
      try {
        const old = JSON.parse(readFileSync(file, 'utf8')) as Partial<SubscriberFile>
        if (typeof old.password === 'string' && this.verify(NOTIFICATIONS_MQTT_USER, old.password)) password = old.password
      } catch {
        /* unreadable: issue a new one */
      }
    }
    if (!password) {
      password = randomBytes(32).toString('base64url')
      const salt = randomBytes(16).toString('hex')
      settings(this.db).put(SUBSCRIBER_KEY, JSON.stringify({ username: NOTIFICATIONS_MQTT_USER, salt, digest: sha256(salt + password), created: isoNow() }))
    }
    const content: SubscriberFile = { host: at.host, port: at.port, ca: at.ca, username: NOTIFICATIONS_MQTT_USER, password, topic: NOTIFICATIONS_TOPIC_FILTER }
    // Written beside and renamed: the secret is never in a file readable by others, even briefly.
    const tmp = `${file}.${process.pid}.tmp`
    writeFileSync(tmp, `${JSON.stringify(content, null, 2)}\n`, { mode: 0o600 })
    chmodSync(tmp, 0o600)
    renameSync(tmp, file)
    return content
  }
}

export interface BrokerHandle {
  broker: Aedes
  port: number
  host: string
  /** The port of each extra host. */
  extraPorts: Record<string, number>
  close(): Promise<void>
}

/** Limits of the broker (defaults: limits.ts and MAX_MQTT_PACKET). */
export interface BrokerLimits {
  preConnectMaxPacket?: number
  maxPacket?: number
  maxConnectionsPerSource?: number
}

/**
 * The embedded broker, TLS only (the lab's CA, tls.ts: agents authenticate the broker
 * before they send their secret). Anonymous clients and unknown credentials are refused
 * at CONNECT. An agent logs in only with its own client id (its user name), so no other
 * credential can reach its session or the RPCs queued in it. One session at a time: a
 * new CONNECT with the agent's own credential takes the session over and the broker
 * closes the previous connection (MQTT's rule). Refusing it instead would lock an agent
 * out after its link died silently (no FIN), until the keepalive (1.5 x 15 s) noticed. An agent may
 * subscribe only to its own rpc topic, publish only to its own reply/event topics, and
 * is forwarded only its own rpc topic, queued messages included (src/protocol/topics.ts
 * holds the rule). The `notifications` user (SubscriberCredentials) may subscribe to
 * notification topics only and publish nothing (not even a will). Packet sizes and
 * connections per source address are capped (limits.ts). The server itself publishes
 * and subscribes in-process, without a network client.
 */
export async function startBroker(opts: {
  db: DB
  host: string
  tls: Pick<BrokerTls, 'key' | 'cert'>
  preferredPort?: number
  log: (m: string) => void
  limits?: BrokerLimits
  /** The total cap of open connections (default: connectionBudget()). */
  maxConnections?: number
  /** More addresses to listen on (a sandboxed lab's gateway), each on its own port. */
  extraHosts?: Array<{ host: string; preferredPort?: number | undefined }>
}): Promise<BrokerHandle> {
  const creds = new AgentCredentials(opts.db)
  const subscriber = new SubscriberCredentials(opts.db)
  const maxPacket = opts.limits?.maxPacket ?? MAX_MQTT_PACKET
  const preConnectMax = opts.limits?.preConnectMaxPacket ?? PRE_CONNECT_MAX_PACKET
  // The client that holds each agent's session now (to log a takeover).
  const sessions = new Map<string, Client>()
  const broker = await Aedes.createBroker({
    heartbeatInterval: 60_000,
    // A TCP+TLS connection that sends no CONNECT is dropped after this.
    connectTimeout: 10_000,
    authenticate(client, username, password, done) {
      if (username === NOTIFICATIONS_MQTT_USER) {
        if (!password || !subscriber.verify(username, password.toString())) return done(authError(4, 'bad user name or password') as never, false)
        // An agent's client id would take over (disconnect) that agent's session.
        if (instanceIdFromAgentUser(client.id)) return done(authError(5, 'not authorized') as never, false)
        ;(client as AgentClient).troveSubscriber = true
        return done(null, true)
      }
      const instanceId = username ? instanceIdFromAgentUser(username) : undefined
      if (!username || !password || !instanceId) return done(authError(5, 'not authorized') as never, false)
      const ok = creds.verify(username, password.toString())
      if (!ok || ok !== instanceId) return done(authError(4, 'bad user name or password') as never, false)
      if (client.id !== agentMqttUser(instanceId)) {
        opts.log(`broker: refused ${username} with client id ${JSON.stringify(client.id.slice(0, 80))} (an agent uses its own)`)
        return done(authError(2, 'identifier rejected: an agent connects with its own client id') as never, false)
      }
      // aedes closes the previous connection of this client id once this one registers.
      const holder = sessions.get(client.id)
      if (holder && holder !== client && !holder.closed) opts.log(`broker: a new connection of ${username} takes its session over (the previous one is closed)`)
      sessions.set(client.id, client)
      ;(client as AgentClient).troveInstanceId = instanceId
      done(null, true)
    },
    authorizePublish(client, packet, done) {
      if (client === null) return done(null)
      const id = (client as AgentClient).troveInstanceId
      if (!id || !agentMay(id, 'publish', packet.topic)) return done(new Error('publish not authorized'))
      done(null)
    },
    authorizeSubscribe(client, sub, done) {
      if ((client as AgentClient).troveSubscriber) return done(null, subscriberMay(sub.topic) ? sub : null)
      const id = (client as AgentClient).troveInstanceId
      if (!id || !agentMay(id, 'subscribe', sub.topic)) return done(null, null)
      done(null, sub)
    },
    // Also applied to a persistent session's queue when it is delivered at CONNECT.
    authorizeForward(client, packet) {
      const c = client as AgentClient
      if (c.troveSubscriber) return subscriberMay(packet.topic) ? packet : null
      return c.troveInstanceId && agentMay(c.troveInstanceId, 'subscribe', packet.topic) ? packet : null
    },
  })
  broker.on('clientDisconnect', (client) => {
    if (sessions.get(client.id) === client) sessions.delete(client.id)
  })
  const maxConnections = opts.maxConnections ?? connectionBudget()
  const makeServer = (): Server => {
    const server: Server = createServer({ key: opts.tls.key, cert: opts.tls.cert, minVersion: 'TLSv1.2', handshakeTimeout: 10_000 }, (socket) => {
      // No Nagle: an RPC is a small request and a small reply; with Nagle and delayed ACKs each round trip waited ~40 ms twice.
      socket.setNoDelay(true)
      let client: Client | undefined
      const conn = guardedConnection(socket, () => (client?.connected ? maxPacket : preConnectMax))
      client = broker.handle(conn as never)
    })
    server.on('tlsClientError', () => {
      /* a failed handshake: the socket is already gone */
    })
    capConnectionsPerSource(server, opts.limits?.maxConnectionsPerSource ?? MAX_CONNECTIONS_PER_SOURCE)
    // A flood of idle connections must not take the process's file table (the API and the
    // reconciler share it): beyond the cap Node closes new ones at once, and a connection
    // that sends no CONNECT is closed after connectTimeout.
    server.maxConnections = maxConnections
    server.on('drop', () => {
      if (Date.now() - dropLogged < 60_000) return
      dropLogged = Date.now()
      opts.log(`broker: refusing connections: ${server.maxConnections} are open (the total cap)`)
    })
    return server
  }
  let dropLogged = 0
  const listen = (server: Server, host: string, port: number) =>
    new Promise<number>((resolve, reject) => {
      const onError = (e: Error) => {
        server.off('listening', onListening)
        reject(e)
      }
      const onListening = () => {
        server.off('error', onError)
        resolve((server.address() as { port: number }).port)
      }
      server.once('error', onError)
      server.once('listening', onListening)
      server.listen(port, host)
    })
  // Prefer the port of the previous run, so that running agents find us again at once.
  const listenPreferred = async (server: Server, host: string, preferred: number | undefined) => {
    try {
      return await listen(server, host, preferred ?? 0)
    } catch {
      return listen(server, host, 0)
    }
  }
  const server = makeServer()
  const port = await listenPreferred(server, opts.host, opts.preferredPort)
  // More listeners on the same broker: a sandboxed lab's gateway, where its agents connect from their namespaces.
  const extra: Server[] = []
  const extraPorts: Record<string, number> = {}
  for (const e of opts.extraHosts ?? []) {
    const s = makeServer()
    extra.push(s)
    extraPorts[e.host] = await listenPreferred(s, e.host, e.preferredPort)
  }
  const closeServer = (s: Server) => new Promise<void>((r) => s.close(() => r()))
  return {
    broker,
    port,
    host: opts.host,
    extraPorts,
    close: () =>
      new Promise<void>((resolve) => {
        broker.close(() => void Promise.all([server, ...extra].map(closeServer)).then(() => resolve()))
        // Connected agents keep sockets open; close() waits for them otherwise.
        for (const c of Object.values((broker as unknown as { clients: Record<string, Client> }).clients ?? {})) c.close()
      }),
  }
}
