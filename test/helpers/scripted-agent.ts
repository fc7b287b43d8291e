import mqtt from 'mqtt'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import {
  agentEventTopic,
  agentReplyTopic,
  agentRpcTopic,
  encode,
  type AgentBootstrap,
  type HaRpc,
  type MeasuredStatus,
  type ReplicationRpc,
  type RpcRequest,
  type SyncRpc,
} from '../../src/protocol/index.js'

/** A handler's result is the call's result; a thrown error becomes a GuestError reply. */
export type ScriptedHandler = (req: RpcRequest) => unknown

export interface ScriptedAgent {
  boot: AgentBootstrap
  /** Methods of every request received, in order. */
  calls: string[]
  heartbeat(status: MeasuredStatus, fault?: string): Promise<unknown>
  /** The `sent` stamp of the last heartbeat sent (0 before the first). */
  readonly lastSent: number
  /** Resolves when the client has connected `n` times in all (at once if it has): `2` is the first reconnect. */
  connected(n: number): Promise<void>
  /** Resolves when `n` requests for `method` have arrived (at once if they already have). */
  called(method: string, n?: number): Promise<void>
  close(): Promise<void>
}

const DEFAULTS: Record<string, unknown> = { get_filesystem_stats: { used: 0.1, total: 1, free: 1 } }

/**
 * An agent for flow tests without engines: it connects with the instance's real
 * credentials (from the bootstrap the server wrote) on the real broker, answers
 * calls through `handlers` (default: `true`), and sends the heartbeats a test asks for.
 */
export async function scriptedAgent(dataDir: string, id: string, handlers: Record<string, ScriptedHandler> = {}): Promise<ScriptedAgent> {
  const boot = JSON.parse(readFileSync(join(dataDir, 'instances', id, 'agent.json'), 'utf8')) as AgentBootstrap
  const broker = JSON.parse(readFileSync(boot.brokerFile, 'utf8')) as { host: string; port: number }
  const client = await mqtt.connectAsync({
    host: broker.host,
    port: broker.port,
    protocol: 'mqtts',
    ca: boot.mqtt.ca,
    username: boot.mqtt.username,
    password: boot.mqtt.password,
    clientId: boot.mqtt.username,
    clean: false,
    reconnectPeriod: 200,
  })
  let connects = 1
  client.on('connect', () => connects++)
  await client.subscribeAsync(agentRpcTopic(id), { qos: 1 })
  const calls: string[] = []
  client.on('message', (_topic, payload) => {
    const req = JSON.parse(payload.toString()) as RpcRequest
    calls.push(req.method)
    void (async () => {
      let reply
      try {
        const h = handlers[req.method]
        reply = { id: req.id, ok: true, result: h ? await h(req) : (DEFAULTS[req.method] ?? true) }
      } catch (e) {
        reply = { id: req.id, ok: false, error: { type: 'GuestError', message: (e as Error).message } }
      }
      if (req.reply) client.publish(agentReplyTopic(id), encode(reply), { qos: 1 })
    })()
  })
  let lastSent = 0
  return {
    boot,
    calls,
    heartbeat: (status, fault) => {
      lastSent = Math.max(Date.now(), lastSent + 1)
      return client.publishAsync(agentEventTopic(id), encode({ kind: 'heartbeat', sent: lastSent, status, agentPid: process.pid, ...(fault ? { fault } : {}) }), { qos: 1 })
    },
    get lastSent() {
      return lastSent
    },
    connected: (n) => until(() => connects >= n, 10_000, `connection ${n} to the broker`),
    called: (method, n = 1) => until(() => calls.filter((m) => m === method).length >= n, 10_000, `${n} ${method} call(s)`),
    close: () => client.endAsync(true),
  }
}

/** The catalogue's families a member of an HA set answers: replication, automatic failover, synchronous replication. */
export type HaMemberMethod = keyof ReplicationRpc | keyof HaRpc | keyof SyncRpc

/**
 * Every method of those families, once, for the scripted members of test/server/ha/. `satisfies` makes this list a
 * compile error when a family gains, loses or renames a method, so the members answer what the server may send
 * them (the create, promote and eject flows, the monitor, the sync keeper), and stay in step with each other.
 */
export const HA_MEMBER_METHODS = Object.keys({
  backup_required_for_replication: true,
  get_replication_snapshot: true,
  get_replica_context: true,
  attach_replica: true,
  detach_replica: true,
  enable_as_master: true,
  demote_replication_master: true,
  make_read_only: true,
  get_latest_txn_id: true,
  get_last_txn: true,
  wait_for_txn: true,
  set_ha: true,
  renew_lease: true,
  ha_view: true,
  set_sync_replication: true,
  sync_view: true,
} as const satisfies { [M in HaMemberMethod]: true }) as HaMemberMethod[]

/**
 * A scripted member's answer to one of HA_MEMBER_METHODS when its test has none of its own: a MariaDB replica
 * context (a replication user), a GTID, else null.
 */
export function haMemberAnswer(req: RpcRequest): unknown {
  if (req.method === 'get_replica_context' || req.method === 'get_replication_snapshot')
    return { master: { host: '127.0.0.1', port: 3306 }, replica_conf: { replication_user: { name: 'slave_1', password: 'Secret-pw-1' } }, datastore_manager: 'mariadb' }
  if (req.method === 'get_latest_txn_id') return '0-1-7'
  return null
}

/**
 * Polls `probe` every 50 ms until it returns true. The deadline only ends a hang: `ms` (what the
 * condition takes on a quiet machine) is raised to two minutes, so a busy machine slows a test down
 * instead of failing it.
 */
export async function until(probe: () => Promise<boolean> | boolean, ms = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + Math.max(ms, 120_000)
  while (!(await probe())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** A promise with its resolve handle, for holding a scripted call open. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: Error) => void } {
  let resolve!: (v: T) => void
  let reject!: (e: Error) => void
  const promise = new Promise<T>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

/**
 * An ordering barrier for "a timer did not fire" checks: resolves once every timer of at most
 * `ms` armed before this call (an interval's next tick included) has fired. Node runs due timers
 * in order of expiry, equal expiries in the order they were armed, so this holds however slow or
 * busy the machine is: a late event loop delays the barrier as much as the timers before it.
 */
export function timersArmedBefore(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms))
}
