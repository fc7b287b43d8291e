import t from 'tap'
import mqtt from 'mqtt'
import { startLab } from '../helpers/lab.js'
import { until } from '../helpers/scripted-agent.js'
import { agentEventTopic, agentReplyTopic, agentRpcTopic, encode, type RpcRequest } from '../../src/protocol/index.js'

function connect(port: number, username?: string, password?: string): Promise<mqtt.MqttClient> {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect({ host: '127.0.0.1', port, username, password, clientId: username ?? `anon-${Date.now()}`, reconnectPeriod: 0, connectTimeout: 3000 })
    c.once('connect', () => resolve(c))
    c.once('error', (e) => { c.end(true); reject(e) })
  })
}

t.test('the broker refuses anonymous and wrong credentials and confines an agent to its own topics', async (t) => {
  const lab = await startLab(t)
  const port = JSON.parse((await import('node:fs')).readFileSync(lab.server.lab.brokerFile, 'utf8')).port as number
  const a = '11111111-1111-1111-1111-111111111111'
  const b = '22222222-2222-2222-2222-222222222222'
  const dsv = lab.server.lab.db.prepare('SELECT id FROM datastore_versions LIMIT 1').pluck().get() as string
  for (const id of [a, b]) lab.server.lab.instances.create({ id, name: id.slice(0, 4), tenant_id: 'p', flavor_id: '1', volume_size: 1, volume_type: null, datastore_version_id: dsv, address: null, port: null, region_id: 'RegionOne', access: null })
  const credA = lab.server.lab.credentials.issue(a)
  lab.server.lab.credentials.issue(b)

  await t.rejects(connect(port), /Not authorized|not authorized/i, 'anonymous client refused')
  await t.rejects(connect(port, credA.username, 'wrong'), /Bad username or password|not authorized/i, 'wrong password refused')
  await t.rejects(connect(port, `agent-${b}`, credA.password), /Bad username or password|not authorized/i, "another agent's name with A's password refused")

  const ca = await connect(port, credA.username, credA.password)
  t.teardown(() => { ca.end(true) })
  const granted = await ca.subscribeAsync(agentRpcTopic(a), { qos: 1 })
  t.equal(granted[0].qos, 1, 'own rpc topic: granted')
  // SUBACK 0x80: mqtt.js rejects the subscription.
  await t.rejects(ca.subscribeAsync(agentRpcTopic(b), { qos: 1 }), /Subscribe error/, "another agent's rpc topic: refused")
  await t.rejects(ca.subscribeAsync('trove/agent/+/rpc', { qos: 1 }), /Subscribe error/, 'wildcard read of other agents: refused')
  await t.rejects(ca.subscribeAsync('#', { qos: 1 }), /Subscribe error/, 'everything: refused')

  // A call from the server reaches A's agent, and A's reply comes back.
  ca.on('message', (topic, payload) => {
    const req = JSON.parse(payload.toString()) as RpcRequest
    if (topic === agentRpcTopic(a)) ca.publish(agentReplyTopic(a), encode({ id: req.id, ok: true, result: 'pong' }), { qos: 1 })
  })
  t.equal(await lab.server.lab.rpc.call(a, 'rpc_ping', {}, 3000), 'pong', 'server -> agent call round trip')

  // A heartbeat A publishes for itself is applied; one it forges for B is dropped (and A is disconnected).
  const sent = Date.now()
  ca.publish(agentEventTopic(a), encode({ kind: 'heartbeat', sent, status: 'HEALTHY', agentPid: 1 }), { qos: 1 })
  await until(() => lab.server.lab.instances.guestStatus(a)?.status_description === 'healthy', 5000, "A's heartbeat")
  t.equal(lab.server.lab.instances.guestStatus(a)?.status_description, 'healthy', "A's own heartbeat applied")
  ca.publish(agentEventTopic(b), encode({ kind: 'heartbeat', sent: sent + 1, status: 'HEALTHY', agentPid: 1 }), { qos: 0 })
  await new Promise((r) => setTimeout(r, 300))
  t.equal(lab.server.lab.instances.guestStatus(b)?.status_description, 'new', "a heartbeat forged for B is dropped")
})
