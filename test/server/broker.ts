import t, { type Test } from 'tap'
import mqtt from 'mqtt'
import { readFileSync } from 'node:fs'
import { createServer, connect as netConnect, type AddressInfo, type Socket } from 'node:net'
import { join } from 'node:path'
import { startLab, type InProcessLab } from '../helpers/lab.js'
import { until } from '../helpers/scripted-agent.js'
import { allocate } from '../../src/server/compute/addresses.js'
import { agentEventTopic, agentReplyTopic, agentRpcTopic, encode, type RpcRequest } from '../../src/protocol/index.js'

interface Broker {
  port: number
  ca: string
}

function brokerOf(lab: InProcessLab): Broker {
  const port = JSON.parse(readFileSync(lab.server.lab.brokerFile, 'utf8')).port as number
  return { port, ca: readFileSync(join(lab.dataDir, 'tls', 'ca.crt'), 'utf8') }
}

function connect(b: Broker, o: { username?: string; password?: string; clientId?: string; clean?: boolean; localAddress?: string; keepalive?: number } = {}): Promise<mqtt.MqttClient> {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect({
      host: '127.0.0.1',
      port: b.port,
      protocol: 'mqtts',
      ca: b.ca,
      username: o.username,
      password: o.password,
      clientId: o.clientId ?? o.username ?? `anon-${Date.now()}`,
      clean: o.clean ?? true,
      reconnectPeriod: 0,
      connectTimeout: 5000,
      ...(o.keepalive ? { keepalive: o.keepalive } : {}),
      ...(o.localAddress ? { localAddress: o.localAddress } : {}),
    })
    c.once('connect', () => resolve(c))
    c.once('error', (e) => {
      c.end(true)
      reject(e)
    })
  })
}

const A = '11111111-1111-1111-1111-111111111111'
const B = '22222222-2222-2222-2222-222222222222'

/** A lab with two instance records (A, B) and their agent credentials; no agent processes. */
async function twoAgents(t: Test) {
  const lab = await startLab(t, { spawnAgents: false, rateLimits: [] })
  const dsv = lab.server.lab.db.prepare('SELECT id FROM datastore_versions LIMIT 1').pluck().get() as string
  for (const id of [A, B])
    lab.server.lab.instances.create({
      id,
      name: id.slice(0, 4),
      tenant_id: 'p',
      flavor_id: '1',
      volume_size: 1,
      volume_type: null,
      datastore_version_id: dsv,
      address: null,
      port: null,
      region_id: 'RegionOne',
      access: null,
    })
  return { lab, broker: brokerOf(lab), a: lab.server.lab.credentials.issue(A), b: lab.server.lab.credentials.issue(B) }
}

/** Answers every call on `c` (instance `id`) with `answer(req)`. */
function answer(c: mqtt.MqttClient, id: string, answer: (req: RpcRequest) => unknown): void {
  c.on('message', (topic, payload) => {
    const req = JSON.parse(payload.toString()) as RpcRequest
    if (topic === agentRpcTopic(id) && req.reply) c.publish(agentReplyTopic(id), encode({ id: req.id, ok: true, result: answer(req) }), { qos: 1 })
  })
}

t.test('the broker refuses anonymous and wrong credentials and confines an agent to its own topics', async (t) => {
  const { lab, broker, a: credA } = await twoAgents(t)

  await t.rejects(connect(broker), /Not authorized|not authorized/i, 'anonymous client refused')
  await t.rejects(connect(broker, { username: credA.username, password: 'wrong' }), /Bad username or password|not authorized/i, 'wrong password refused')
  await t.rejects(connect(broker, { username: `agent-${B}`, password: credA.password }), /Bad username or password|not authorized/i, "another agent's name with A's password refused")

  const ca = await connect(broker, credA)
  t.teardown(() => {
    ca.end(true)
  })
  const granted = await ca.subscribeAsync(agentRpcTopic(A), { qos: 1 })
  t.equal(granted[0].qos, 1, 'own rpc topic: granted')
  // SUBACK 0x80: mqtt.js rejects the subscription.
  await t.rejects(ca.subscribeAsync(agentRpcTopic(B), { qos: 1 }), /Subscribe error/, "another agent's rpc topic: refused")
  await t.rejects(ca.subscribeAsync('trove/agent/+/rpc', { qos: 1 }), /Subscribe error/, 'wildcard read of other agents: refused')
  await t.rejects(ca.subscribeAsync('#', { qos: 1 }), /Subscribe error/, 'everything: refused')

  // A call from the server reaches A's agent, and A's reply comes back.
  answer(ca, A, () => 'pong')
  t.equal(await lab.server.lab.rpc.call(A, 'rpc_ping', {}, 3000), 'pong', 'server -> agent call round trip')

  // A heartbeat A publishes for itself is applied; one it forges for B is dropped (and A is disconnected).
  const sent = Date.now()
  await ca.publishAsync(agentEventTopic(A), encode({ kind: 'heartbeat', sent, status: 'HEALTHY', agentPid: 1 }), { qos: 1 })
  await until(() => lab.server.lab.instances.guestStatus(A)?.status_description === 'healthy', 5000, "A's own heartbeat applied")
  const dropped = new Promise<void>((r) => ca.once('close', () => r()))
  ca.publish(agentEventTopic(B), encode({ kind: 'heartbeat', sent: sent + 1, status: 'HEALTHY', agentPid: 1 }), { qos: 0 })
  await dropped
  t.equal(lab.server.lab.instances.guestStatus(B)?.status_description, 'new', 'a heartbeat forged for B is dropped')
})

t.test("client-id takeover: A cannot log in as B, nor get B's queued calls; one session per agent", async (t) => {
  const { lab, broker, a, b } = await twoAgents(t)
  // B's agent has a persistent session, then drops off; a call (with a password) is queued for it.
  const b1 = await connect(broker, { ...b, clean: false })
  await b1.subscribeAsync(agentRpcTopic(B), { qos: 1 })
  await b1.endAsync()
  const call = lab.server.lab.rpc.call(B, 'create_user', { users: [{ name: 'u', password: 'queued-secret' }] }, 20_000)

  const leaked: string[] = []
  for (const clean of [false, true]) {
    await t.rejects(connect(broker, { ...a, clientId: b.username, clean }), /Identifier rejected/, `A with B's client id (clean ${clean}): refused`)
  }
  t.ok(
    lab.logs.some((l) => l.includes(`refused ${a.username} with client id "${b.username}"`)),
    'the refusal is logged',
  )

  // B comes back and gets its queued call; nobody else saw it.
  const b2 = await connect(broker, { ...b, clean: false })
  t.teardown(() => {
    b2.end(true)
  })
  b2.on('message', (_topic, payload) => leaked.push(payload.toString()))
  answer(b2, B, (req) => (req.method === 'create_user' ? `created ${(req.args as { users: Array<{ name: string }> }).users[0]!.name}` : 'pong'))
  t.equal(await call, 'created u', "B's queued call reached B and was answered")
  t.equal(leaked.length, 1, 'delivered once, to B')

  // B's own credentials again while B is connected: one session at a time, the new connection takes it over.
  const b2Closed = new Promise<void>((r) => b2.once('close', () => r()))
  const b3 = await connect(broker, { ...b, clean: false })
  t.teardown(() => {
    b3.end(true)
  })
  await b2Closed
  t.pass('the previous connection of B is closed')
  answer(b3, B, () => 'pong 3')
  t.equal(await lab.server.lab.rpc.call(B, 'rpc_ping', {}, 5000), 'pong 3', 'the new connection is served')
  t.equal(leaked.length, 1, 'the closed connection got nothing more')
})

t.test("a silently dead connection: the agent's reconnect with its own credential is served at once", async (t) => {
  const { lab, broker, a, b } = await twoAgents(t)
  // B's first connection runs through a proxy this test controls, so that its link can die without a FIN either way.
  const links: Socket[] = []
  const proxy = createServer((inbound) => {
    const outbound = netConnect(broker.port, '127.0.0.1')
    links.push(inbound, outbound)
    inbound.pipe(outbound)
    outbound.pipe(inbound)
    for (const s of [inbound, outbound]) s.on('error', () => {})
  })
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r))
  t.teardown(() => {
    for (const s of links) s.destroy()
    proxy.close()
  })
  // Keepalive 600 s: the broker's keepalive timer (1.5 x 600 s) cannot be what frees the session here.
  const b1 = await connect({ ...broker, port: (proxy.address() as AddressInfo).port }, { ...b, clean: false, keepalive: 600 })
  t.teardown(() => {
    b1.end(true)
  })
  await b1.subscribeAsync(agentRpcTopic(B), { qos: 1 })
  answer(b1, B, () => 'old link')
  t.equal(await lab.server.lab.rpc.call(B, 'rpc_ping', {}, 5000), 'old link', 'served through the proxy')

  // The link dies silently: nothing passes any more, and neither end hears a FIN.
  const [inbound, outbound] = links as [Socket, Socket]
  inbound.unpipe(outbound)
  outbound.unpipe(inbound)
  inbound.pause()
  outbound.pause()
  const queued = lab.server.lab.rpc.call(B, 'create_user', { users: [{ name: 'u', password: 'queued-secret' }] }, 60_000)

  // A, with B's client id, is still refused: the takeover is B's alone.
  await t.rejects(connect(broker, { ...a, clientId: b.username, clean: false }), /Identifier rejected/, "A with B's client id: refused")

  // B reconnects (directly) with its own credential: accepted at once, the dead connection closed.
  const started = Date.now()
  const b2 = await connect(broker, { ...b, clean: false })
  t.teardown(() => {
    b2.end(true)
  })
  answer(b2, B, (req) => (req.method === 'create_user' ? 'created on the new link' : 'new link'))
  t.equal(await queued, 'created on the new link', 'the call sent while the link was dead reaches the new connection')
  t.equal(await lab.server.lab.rpc.call(B, 'rpc_ping', {}, 5000), 'new link', 'the new connection is served')
  // Generous: the old rule refused the reconnect until the keepalive noticed (here 900 s; agents 22.5 s).
  t.ok(Date.now() - started < 20_000, `served ${Date.now() - started} ms after the reconnect`)
  const oldClosed = new Promise<void>((r) => outbound.once('close', () => r()))
  outbound.resume()
  await oldClosed
  t.pass("the broker closed the dead connection's socket")
  t.ok(
    lab.logs.some((l) => l.includes(`a new connection of ${b.username} takes its session over`)),
    'the takeover is logged',
  )
})

t.test("forged reply: a reply with B's request id from A is dropped; B's own reply counts", async (t) => {
  const { lab, broker, a, b } = await twoAgents(t)
  const ca = await connect(broker, a)
  const cb = await connect(broker, b)
  t.teardown(() => {
    ca.end(true)
    cb.end(true)
  })
  await cb.subscribeAsync(agentRpcTopic(B), { qos: 1 })
  // B holds its answer until A's forgery (which names B's request id) has reached the server.
  let replied: Promise<void> = Promise.resolve()
  cb.on('message', (_topic, payload) => {
    const req = JSON.parse(payload.toString()) as RpcRequest
    replied = (async () => {
      await ca.publishAsync(agentReplyTopic(A), encode({ id: req.id, ok: true, result: [{ name: 'forged' }] }), { qos: 1 })
      await until(() => lab.logs.some((l) => l.includes(`dropped a reply to ${B}'s call ${req.id} that came from ${A}`)), 5000, 'the forgery dropped')
      await cb.publishAsync(agentReplyTopic(B), encode({ id: req.id, ok: true, result: [{ name: 'real' }] }), { qos: 1 })
    })()
  })
  t.same(await lab.server.lab.rpc.call(B, 'list_databases', {}, 10_000), [{ name: 'real' }], "the server takes B's reply, not A's forgery")
  await replied
})

t.test('limits: oversized CONNECT and packets are cut off, connections per source are capped; everyone else is still served', async (t) => {
  const { lab, broker, a, b } = await twoAgents(t)
  const tls = await import('node:tls')
  // B connects from an address of its own (as agents do: their instance address).
  const own = await allocate(0, join(lab.dataDir, 'instances', B), new Set())
  const cb = await connect(broker, { ...b, localAddress: own })
  t.teardown(() => {
    cb.end(true)
  })
  await cb.subscribeAsync(agentRpcTopic(B), { qos: 1 })
  answer(cb, B, () => 'pong')

  // 8 CONNECTs announcing 250 MB each, streamed 1 MB at a time as fast as the broker takes them.
  const rss0 = process.memoryUsage().rss
  const header = Buffer.from([0x10, 0xff, 0xff, 0xff, 0x77]) // remaining length 250 MB (max is 268435455)
  const chunk = Buffer.alloc(1024 * 1024, 0x41)
  const sentBytes = await Promise.all(
    Array.from(
      { length: 8 },
      () =>
        new Promise<number>((resolve) => {
          let sent = 0
          let closed = false
          const s = tls.connect({ host: '127.0.0.1', port: broker.port, ca: broker.ca }, () => {
            s.write(header)
            const pump = () => {
              while (!closed && sent < 250 * 1024 * 1024) {
                sent += chunk.length
                if (!s.write(chunk)) return void s.once('drain', pump)
              }
            }
            pump()
          })
          s.on('error', () => {})
          s.on('close', () => {
            closed = true
            resolve(sent)
          })
        }),
    ),
  )
  const grown = (process.memoryUsage().rss - rss0) / 1024 / 1024
  t.ok(
    sentBytes.every((n) => n < 64 * 1024 * 1024),
    `each oversized CONNECT was cut off early (MB sent: ${sentBytes.map((n) => n >> 20).join(', ')})`,
  )
  t.ok(grown < 100, `RSS grew ${grown.toFixed(0)} MB under the attack`)
  t.equal(await lab.server.lab.rpc.call(B, 'rpc_ping', {}, 5000), 'pong', 'B is still served')

  // After CONNECT: a 2 MB packet from A drops A's connection only.
  const ca = await connect(broker, a)
  const aGone = new Promise<void>((r) => ca.once('close', () => r()))
  ca.publish(agentEventTopic(A), Buffer.alloc(2 * 1024 * 1024, 0x20), { qos: 0 })
  await aGone
  t.equal(await lab.server.lab.rpc.call(B, 'rpc_ping', {}, 5000), 'pong', "B is still served after A's oversized publish")
  t.ok(cb.connected, 'B kept its connection')

  // 32 connections from 127.0.0.1 are held open; the 33rd is closed at once; B (another source) is unaffected.
  const net = await import('node:net')
  const held: import('node:net').Socket[] = []
  t.teardown(() => {
    for (const s of held) s.destroy()
  })
  for (let i = 0; i < 32; i++) {
    const s = net.connect({ host: '127.0.0.1', port: broker.port })
    s.on('error', () => {})
    held.push(s)
    await new Promise((r) => s.once('connect', r))
  }
  const extra = net.connect({ host: '127.0.0.1', port: broker.port })
  extra.on('error', () => {})
  await new Promise((r) => extra.once('close', r))
  t.ok(
    held.every((s) => !s.destroyed),
    'the first 32 stay open',
  )
  t.equal(await lab.server.lab.rpc.call(B, 'rpc_ping', {}, 5000), 'pong', 'B is still served while 127.0.0.1 is at its cap')
  await t.rejects(connect(broker, a), 'A, from the saturated source, cannot connect')
  for (const s of held.splice(0)) s.destroy()
  await until(
    async () => {
      try {
        ;(await connect(broker, a)).end(true)
        return true
      } catch {
        return false
      }
    },
    10_000,
    'a connection from 127.0.0.1 once the others closed',
  )
})

t.test('a clean disconnect sends no last will; a dropped connection does', async (t) => {
  const { lab, broker, a } = await twoAgents(t)
  const events: string[] = []
  const bus = lab.server.lab.notifications.bus!
  await new Promise<void>((r) =>
    bus.subscribe(
      agentEventTopic(A),
      (packet, cb) => {
        events.push(JSON.parse(packet.payload.toString()).kind)
        cb()
      },
      r,
    ),
  )
  const will = { topic: agentEventTopic(A), payload: encode({ kind: 'gone', sent: Date.now() }), qos: 1 as const, retain: false }
  const withWill = (): Promise<mqtt.MqttClient> =>
    new Promise((resolve, reject) => {
      const c = mqtt.connect({ host: '127.0.0.1', port: broker.port, protocol: 'mqtts', ca: broker.ca, ...a, clientId: a.username, reconnectPeriod: 0, will })
      c.once('connect', () => resolve(c))
      c.once('error', reject)
    })
  const c1 = await withWill()
  await c1.publishAsync(agentEventTopic(A), encode({ kind: 'heartbeat', sent: Date.now(), status: 'HEALTHY', agentPid: 1 }), { qos: 1 })
  await c1.endAsync()
  // A marker after the clean end: whatever the end caused has been delivered before it.
  const c2 = await withWill()
  await c2.publishAsync(agentEventTopic(A), encode({ kind: 'heartbeat', sent: Date.now(), status: 'HEALTHY', agentPid: 2 }), { qos: 1 })
  await until(() => events.length >= 2, 5000, 'the marker')
  t.same(events, ['heartbeat', 'heartbeat'], 'no last will after a clean DISCONNECT')
  ;(c2 as unknown as { stream: import('node:net').Socket }).stream.destroy()
  await until(() => events.includes('gone'), 5000, 'the last will')
  t.pass('a dropped connection publishes the last will')
  c2.end(true)
})
