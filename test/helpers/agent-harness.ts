// A real (in-process aedes) broker and a server-side MQTT client for agent tests against real
// engines: heartbeats and replies are collected, RPCs are sent as the server would.
import { Aedes } from 'aedes'
import { spawnSync } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import type net from 'node:net'
import tls from 'node:tls'
import { join } from 'node:path'
import mqtt from 'mqtt'
import {
  ALL_AGENT_EVENTS,
  ALL_AGENT_REPLIES,
  agentRpcTopic,
  decode,
  encode,
  instanceIdFromTopic,
  type AgentBootstrap,
  type AgentEvent,
  type EngineManager,
  type RpcReply,
  type RpcRequest,
} from '../../src/protocol/index.js'
import { ensureBrokerTls } from '../../src/server/broker/tls.js'
import { allocate, release } from '../../src/server/compute/addresses.js'
import { ENGINE_PORTS } from '../../src/server/compute/local.js'

export type Heartbeat = Extract<AgentEvent, { kind: 'heartbeat' }> & { at: number }

export interface Instance {
  id: string
  base: string
  config: string
  bootstrap: AgentBootstrap
}

export interface InstanceOptions {
  binDir?: string
  cgroups?: string[]
  parent?: string
  brokerFile?: string
  prepare?: AgentBootstrap['prepare']
}

/** Where a test's engine listens, and the dir that owns its address's claim. */
export interface Endpoint {
  address: string
  port: number
  owner: string
}

/**
 * An address and port for a test's engine, as a lab gives its instances (compute/addresses.ts): a loopback address
 * claimed machine-wide, where the engine's usual port is free (ENGINE_PORTS, the lab's own: below the ephemeral range,
 * so no bind(0) or connect() elsewhere on the machine takes it). A port probed free on 127.0.0.1 and released (how these
 * tests did it before) is only "free now": any process's bind(0) on the machine can take it before the engine binds it.
 * The claim's owner is a new dir under `parent`, one per endpoint (an owner may claim its own address again: two
 * endpoints of one owner could get one address while the first engine is down). The claim is stale once that dir is
 * gone; `releaseEndpoint` ends it sooner.
 */
export async function claimEndpoint(manager: EngineManager, parent: string): Promise<Endpoint> {
  const owner = mkdtempSync(join(parent, 'claim-'))
  const port = ENGINE_PORTS[manager]
  return { address: await allocate(port, owner, new Set()), port, owner }
}

export function releaseEndpoint(e: Endpoint): void {
  release(e.address, e.owner)
}

/** Starts the broker and the server-side client; everything is torn down with `t`. */
/**
 * Ends the test file with a stated skip (not a pass) unless it runs as root on a host with the
 * troveguest user (scripts/setup.sh), as the agent e2e files need. Returns troveguest's uid.
 */
export function requireAgentHost(t: { plan(n: number, reason: string): void }): number {
  const guest = spawnSync('id', ['-u', 'troveguest'], { encoding: 'utf8' })
  if (process.getuid?.() !== 0 || guest.status !== 0) {
    t.plan(0, 'needs root and the troveguest user (scripts/setup.sh)')
    process.exit(0)
  }
  return Number(guest.stdout.trim())
}

export async function startAgentHarness(t: { teardown(fn: () => unknown): void }) {
  // ---- broker and a server-side client ----
  // TLS with a CA of its own, as the lab's broker: agents connect to nothing else.
  const root = mkdtempSync('/tmp/tva-')
  chmodSync(root, 0o711)
  const pki = ensureBrokerTls(join(root, 'tls'), ['127.0.0.1'])
  const broker = await Aedes.createBroker()
  const brokerServer = tls.createServer({ key: pki.key, cert: pki.cert }, broker.handle)
  await new Promise<void>((r) => brokerServer.listen(0, '127.0.0.1', r))
  const brokerPort = (brokerServer.address() as net.AddressInfo).port
  const brokerFile = join(root, 'broker.json')
  writeFileSync(brokerFile, JSON.stringify({ host: '127.0.0.1', port: brokerPort }))

  const heartbeats = new Map<string, Heartbeat[]>()
  const gone = new Map<string, number>()
  const replies = new Map<string, (r: RpcReply) => void>()
  const server = await mqtt.connectAsync({ host: '127.0.0.1', port: brokerPort, protocol: 'mqtts', ca: pki.ca, clientId: 'test-server', clean: true })
  await server.subscribeAsync([ALL_AGENT_EVENTS, ALL_AGENT_REPLIES], { qos: 1 })
  server.on('message', (topic, payload) => {
    const id = instanceIdFromTopic(topic)!
    if (topic.endsWith('/event')) {
      const ev = decode<AgentEvent>(payload)
      if (ev?.kind === 'gone') gone.set(id, (gone.get(id) ?? 0) + 1)
      if (ev?.kind === 'heartbeat') {
        const list = heartbeats.get(id) ?? []
        list.push({ ...ev, at: Date.now() })
        heartbeats.set(id, list)
      }
    } else {
      const r = decode<RpcReply>(payload)
      if (r) replies.get(r.id)?.(r)
    }
  })

  const endpoints: Endpoint[] = []
  t.teardown(async () => {
    await server.endAsync(true)
    await new Promise<void>((r) => broker.close(() => r()))
    brokerServer.close()
    for (const e of endpoints) releaseEndpoint(e)
    rmSync(root, { recursive: true, force: true })
  })

  // ---- helpers ----

  function alive(pid: number): boolean {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
      return !/^\S+ \(.*\) [ZX]/.test(stat)
    } catch {
      return false
    }
  }

  async function waitFor<T>(what: string | (() => string), fn: () => T | undefined, timeoutMs = 20_000): Promise<T> {
    const deadline = Date.now() + Math.max(timeoutMs, 300_000) // ends a hang; a busy machine is only slower
    for (;;) {
      const v = fn()
      if (v !== undefined && v !== false) return v
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${typeof what === 'string' ? what : what()}`)
      await new Promise((r) => setTimeout(r, 10))
    }
  }

  /** The first heartbeat at index >= from with the given status. */
  function heartbeat(id: string, status: string, from = 0, pred: (h: Heartbeat) => boolean = () => true): Promise<Heartbeat> {
    // On a timeout, the statuses seen instead (and the last fault) say what the agent did.
    const seen = (): string => {
      const since = (heartbeats.get(id) ?? []).slice(from)
      const statuses = since.map((h) => h.status).filter((s, i, all) => s !== all[i - 1])
      const fault = since.findLast((h) => h.fault)?.fault
      return `${status} heartbeat (seen since: ${statuses.join(' ') || 'none'}${fault ? `; last fault: ${fault}` : ''})`
    }
    return waitFor(seen, () => (heartbeats.get(id) ?? []).slice(from).find((h) => h.status === status && pred(h)))
  }

  const count = (id: string): number => heartbeats.get(id)?.length ?? 0

  async function call(id: string, method: string, args: Record<string, unknown> = {}, reqId = randomUUID()): Promise<RpcReply> {
    const reply = new Promise<RpcReply>((resolve, reject) => {
      // Ends a hang only: a prepare on a busy machine (2 cores, load 30) took over 30 s.
      const timer = setTimeout(() => reject(new Error(`no reply to ${method}`)), 300_000)
      replies.set(reqId, (r) => {
        clearTimeout(timer)
        resolve(r)
      })
    })
    const req: RpcRequest = { id: reqId, method: method as RpcRequest['method'], args, sent: Date.now(), reply: true, timeoutMs: 30_000 }
    await server.publishAsync(agentRpcTopic(id), encode(req), { qos: 1 })
    return reply
  }

  /** An endpoint of this harness's own (claimEndpoint), released at its teardown. */
  async function endpoint(manager: EngineManager): Promise<Endpoint> {
    const e = await claimEndpoint(manager, root)
    endpoints.push(e)
    return e
  }

  function makeInstance(manager: EngineManager, version: string, at: Endpoint, o: InstanceOptions = {}): Instance {
    const { binDir, cgroups } = o
    const id = randomUUID()
    const base = mkdtempSync(join(o.parent ?? root, `${manager.slice(0, 2)}-`))
    chmodSync(base, 0o711)
    const bootstrap: AgentBootstrap = {
      instanceId: id,
      datastore: { manager, version, ...(binDir ? { binDir } : {}) },
      brokerFile: o.brokerFile ?? brokerFile,
      mqtt: { username: `agent-${id}`, password: 'x', ca: pki.ca },
      baseDir: base,
      address: at.address,
      port: at.port,
      flavor: { ramMb: 512, vcpus: 1 },
      volumeSize: 2,
      runUser: 'troveguest',
      serverId: 7,
      heartbeatMs: 1000,
      ...(cgroups ? { cgroups } : {}),
      prepare: o.prepare ?? { databases: [], users: [] },
    }
    const config = join(base, 'agent.json')
    writeFileSync(config, JSON.stringify(bootstrap), { mode: 0o600 })
    return { id, base, config, bootstrap }
  }

  /** Kill whatever engine an instance left running (pid files under run/ and data/). */
  function killEngines(base: string): void {
    for (const f of ['run/mysqld.pid', 'run/postgres.pid', 'data/postmaster.pid', 'run/redis.pid']) {
      try {
        const pid = Number.parseInt(readFileSync(join(base, f), 'utf8'), 10)
        if (pid > 1 && alive(pid)) process.kill(pid, 'SIGKILL')
      } catch {
        /* none */
      }
    }
  }

  return { root, brokerFile, pki, heartbeats, gone, call, heartbeat, count, waitFor, endpoint, makeInstance, killEngines, alive }
}
