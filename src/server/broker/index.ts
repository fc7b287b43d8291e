import { createServer, type Server } from 'node:net'
import { randomBytes, timingSafeEqual } from 'node:crypto'
import { Aedes, type Client } from 'aedes'
import type { DB } from '../db/index.js'
import { isoNow } from '../db/index.js'
import { agentMay, agentMqttUser, instanceIdFromAgentUser } from '../../protocol/index.js'
import { sha256 } from '../identity/secrets.js'

type AgentClient = Client & { troveInstanceId?: string }

function authError(code: 4 | 5, message: string): Error & { returnCode: number } {
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
    this.db.prepare('INSERT OR REPLACE INTO agent_credentials (instance_id, username, salt, digest, created) VALUES (?, ?, ?, ?, ?)')
      .run(instanceId, username, salt, sha256(salt + password), isoNow())
    return { username, password }
  }

  verify(username: string, password: string): string | undefined {
    const row = this.db.prepare('SELECT instance_id, salt, digest FROM agent_credentials WHERE username = ?').get(username) as
      | { instance_id: string; salt: string; digest: string }
      | undefined
    if (!row) return undefined
    const got = Buffer.from(sha256(row.salt + password), 'hex')
    return timingSafeEqual(got, Buffer.from(row.digest, 'hex')) ? row.instance_id : undefined
  }

  revoke(instanceId: string): void {
    this.db.prepare('DELETE FROM agent_credentials WHERE instance_id = ?').run(instanceId)
  }
}

export interface BrokerHandle {
  broker: Aedes
  port: number
  host: string
  close(): Promise<void>
}

/**
 * The embedded broker. Anonymous clients and unknown credentials are refused at
 * CONNECT; an agent may subscribe only to its own rpc topic and publish only to its
 * own reply/event topics (src/protocol/topics.ts holds the rule). The server itself
 * publishes and subscribes in-process, without a network client.
 */
export async function startBroker(opts: { db: DB; host: string; preferredPort?: number; log: (m: string) => void }): Promise<BrokerHandle> {
  const creds = new AgentCredentials(opts.db)
  const broker = await Aedes.createBroker({
    heartbeatInterval: 60_000,
    authenticate(client, username, password, done) {
      const instanceId = username ? instanceIdFromAgentUser(username) : undefined
      if (!username || !password || !instanceId) return done(authError(5, 'not authorized') as never, false)
      const ok = creds.verify(username, password.toString())
      if (!ok || ok !== instanceId) return done(authError(4, 'bad user name or password') as never, false)
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
      const id = (client as AgentClient).troveInstanceId
      if (!id || !agentMay(id, 'subscribe', sub.topic)) return done(null, null)
      done(null, sub)
    },
  })
  // No Nagle: an RPC is a small request and a small reply; with Nagle and delayed ACKs each round trip waited ~40 ms twice.
  const server: Server = createServer((socket) => { socket.setNoDelay(true); broker.handle(socket) })
  const listen = (port: number) =>
    new Promise<number>((resolve, reject) => {
      const onError = (e: Error) => { server.off('listening', onListening); reject(e) }
      const onListening = () => { server.off('error', onError); resolve((server.address() as { port: number }).port) }
      server.once('error', onError)
      server.once('listening', onListening)
      server.listen(port, opts.host)
    })
  let port: number
  try {
    // Prefer the port of the previous run, so that running agents find us again at once.
    port = await listen(opts.preferredPort ?? 0)
  } catch {
    port = await listen(0)
  }
  return {
    broker,
    port,
    host: opts.host,
    close: () =>
      new Promise<void>((resolve) => {
        broker.close(() => server.close(() => resolve()))
        // Connected agents keep sockets open; close() waits for them otherwise.
        for (const c of Object.values((broker as unknown as { clients: Record<string, Client> }).clients ?? {})) c.close()
      }),
  }
}
