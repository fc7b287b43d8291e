// Every upstream notification event the API and the periodic tasks send (internals.md 5),
// and the read-only MQTT credential external subscribers use to receive them.
import t, { type Test } from 'tap'
import mqtt from 'mqtt'
import { existsSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { apiLab, otherMember, type ApiLab } from '../helpers/api.js'
import { scriptedAgent, timersArmedBefore, until, type ScriptedHandler } from '../helpers/scripted-agent.js'
import { agentRpcTopic, notificationTopic, type RpcRequest } from '../../src/protocol/index.js'
import { SubscriberCredentials } from '../../src/server/broker/index.js'

interface User {
  name: string
  host: string
  password: string
  databases: Array<{ name: string }>
}

/** A guest with databases and users in memory (enough for the account routes). */
function fakeGuest() {
  const dbs = new Set<string>()
  const users: User[] = []
  const find = (a: Record<string, unknown>) => users.find((u) => u.name === a.username && u.host === a.hostname)
  const view = (u: User) => ({ name: u.name, host: u.host, databases: u.databases })
  const h: Record<string, ScriptedHandler> = {
    list_databases: (r: RpcRequest) => {
      const names = [...dbs].sort().filter((n) => !r.args.marker || n >= (r.args.marker as string))
      return [names.slice(0, (r.args.limit as number) || names.length).map((name) => ({ name })), null]
    },
    create_database: (r) => {
      for (const d of r.args.databases as Array<{ name: string }>) {
        if (d.name === 'explode') throw new Error('disk full')
        dbs.add(d.name)
      }
      return null
    },
    delete_database: (r) => {
      dbs.delete((r.args.database as { name: string }).name)
      return null
    },
    get_user: (r) => {
      const u = find(r.args)
      return u ? view(u) : null
    },
    create_user: (r) => {
      for (const u of r.args.users as User[]) users.push({ ...u })
      return null
    },
    delete_user: (r) => {
      const x = r.args.user as { name: string; host: string }
      users.splice(
        users.findIndex((u) => u.name === x.name && u.host === x.host),
        1,
      )
      return null
    },
    change_passwords: () => null,
    update_attributes: () => null,
    grant_access: (r) => {
      const u = find(r.args)!
      for (const d of r.args.databases as string[]) if (!u.databases.some((x) => x.name === d)) u.databases.push({ name: d })
      return null
    },
    revoke_access: (r) => {
      const u = find(r.args)!
      u.databases = u.databases.filter((d) => d.name !== r.args.database)
      return null
    },
  }
  return h
}

async function activeInstance(t: Test, lab: ApiLab, handlers: Record<string, ScriptedHandler> = {}) {
  const p = `/v1.0/${lab.demo.project}`
  const r = await lab.req('POST', `${p}/instances`, { body: { instance: { name: 'events', flavorRef: '1', volume: { size: 1 }, datastore: { type: 'mariadb' } } } })
  t.equal(r.status, 200, 'instance created')
  const id = r.body.instance.id as string
  await until(() => existsSync(join(lab.dataDir, 'instances', id, 'agent.json')), 5000, 'bootstrap')
  const agent = await scriptedAgent(lab.dataDir, id, handlers)
  t.teardown(() => agent.close())
  await agent.heartbeat('HEALTHY')
  await until(async () => (await lab.req('GET', `${p}/instances/${id}`)).body.instance.status === 'ACTIVE', 5000, 'ACTIVE')
  return { id, url: `${p}/instances/${id}` }
}

/** The last `.start` and `.end` (or `.error`) of `event`, both required. */
function pair(lab: ApiLab, event: string, last: 'end' | 'error' = 'end') {
  const n = lab.server.lab.notifications
  const start = n.list(`dbaas.${event}.start`).at(-1)
  const end = n.list(`dbaas.${event}.${last}`).at(-1)
  if (!start || !end) throw new Error(`missing dbaas.${event}.start/.${last}`)
  return { start, end }
}

t.test('account, reset_status and configuration attach/detach actions send .start/.end with upstream traits', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false, rateLimits: [] })
  const p = `/v1.0/${lab.demo.project}`
  const { id, url } = await activeInstance(t, lab, fakeGuest())
  const base = { tenant_id: lab.demo.project, server_type: 'api', server_ip: '127.0.0.1', instance_id: id }

  const c = await lab.req('POST', `${url}/databases`, { body: { databases: [{ name: 'a' }, { name: 'b' }] } })
  t.equal(c.status, 202)
  let e = pair(lab, 'database_create')
  t.match(e.start, { publisher_id: /^api\./, priority: 'INFO', instance_id: id })
  t.match(e.start.payload, { ...base, dbname: 'a.b', request_id: c.headers['x-openstack-request-id'], client_ip: /./ })
  t.match(e.end.payload, { ...base, dbname: 'a.b', request_id: c.headers['x-openstack-request-id'] })
  t.equal((await lab.req('DELETE', `${url}/databases/b`)).status, 202)
  t.match(pair(lab, 'database_delete').end.payload, { ...base, dbname: 'b' })

  t.equal(
    (
      await lab.req('POST', `${url}/users`, {
        body: {
          users: [
            { name: 'u1', password: 'sekret-1' },
            { name: 'u2', password: 'sekret-2', databases: [{ name: 'a' }] },
          ],
        },
      })
    ).status,
    202,
  )
  e = pair(lab, 'user_create')
  t.match(e.start.payload, { ...base, username: 'u1,u2' })
  t.match(e.end.payload, { ...base, username: 'u1,u2' })
  t.notMatch(JSON.stringify(lab.server.lab.notifications.list()), /sekret/, 'no password in any event')

  t.equal(
    (
      await lab.req('PUT', `${url}/users`, {
        body: {
          users: [
            { name: 'u1', password: 'sekret-3' },
            { name: 'u2', password: 'sekret-4' },
          ],
        },
      })
    ).status,
    202,
  )
  t.match(pair(lab, 'user_change_password').end.payload, { ...base, username: 'u1,u2' })
  t.equal((await lab.req('PUT', `${url}/users/u1`, { body: { user: { password: 'sekret-5' } } })).status, 202)
  t.match(pair(lab, 'user_update_attributes').end.payload, { ...base, username: 'u1' })
  t.equal((await lab.req('PUT', `${url}/users/u1/databases`, { body: { databases: [{ name: 'a' }] } })).status, 202)
  t.match(pair(lab, 'user_grant').start.payload, { ...base, username: 'u1', database: ['a'] })
  t.match(pair(lab, 'user_grant').end.payload, { ...base, username: 'u1', database: ['a'] })
  t.equal((await lab.req('DELETE', `${url}/users/u1/databases/a`)).status, 202)
  t.match(pair(lab, 'user_revoke').end.payload, { ...base, username: 'u1', database: ['a'] })
  t.equal((await lab.req('DELETE', `${url}/users/u2`)).status, 202)
  t.match(pair(lab, 'user_delete').end.payload, { ...base, username: 'u2' })
  t.notMatch(JSON.stringify(lab.server.lab.notifications.list()), /sekret/, 'still no password')

  // A guest failure: .error with message and exception, an instance fault, the route's answer unchanged.
  const bad = await lab.req('POST', `${url}/databases`, { body: { databases: [{ name: 'explode' }] } })
  t.equal(bad.status, 400)
  e = pair(lab, 'database_create', 'error')
  t.match(e.end, { priority: 'ERROR', instance_id: id, publisher_id: /^api\./ })
  t.match(e.end.payload, { ...base, dbname: 'explode', message: /disk full/, exception: [/disk full/] })
  const shown = (await lab.req('GET', url)).body.instance
  t.match(shown.fault, { message: /disk full/ }, 'the error is an instance fault')
  // A user that does not exist: upstream's UserNotFound inside the notification: .error.
  t.equal((await lab.req('DELETE', `${url}/users/ghost`)).status, 404)
  t.match(pair(lab, 'user_delete', 'error').end.payload, { ...base, username: 'ghost', message: /ghost/ })
  t.match((await lab.req('GET', url)).body.instance.fault, { message: /disk full/ }, "a client's mistake is not recorded as the instance's fault")
  // Someone else's instance: refused before anything is sent.
  const before = lab.server.lab.notifications.list().length
  const other = otherMember(lab)
  t.equal((await lab.req('POST', `/v1.0/${other.project}/instances/${id}/databases`, { token: other.token, body: { databases: [{ name: 'x' }] } })).status, 404)
  t.equal((await lab.req('DELETE', `/v1.0/${other.project}/instances/${id}/users/u1`, { token: other.token })).status, 404)
  t.equal(lab.server.lab.notifications.list().length, before, 'nothing sent for a refused request')

  // Configuration group attach and detach (synchronous guest calls: the API sends .end).
  const v = (await lab.req('GET', `${p}/datastores/mariadb/versions`)).body.versions[0]
  const g = await lab.req('POST', `${p}/configurations`, { body: { configuration: { name: 'g', values: { max_connections: 200 }, datastore: { type: 'mariadb', version: v.name } } } })
  t.equal(g.status, 200)
  const gid = g.body.configuration.id as string
  t.equal((await lab.req('PUT', url, { body: { instance: { configuration: gid } } })).status, 202)
  t.match(pair(lab, 'instance_attach_configuration').start.payload, { ...base, configuration_id: gid })
  t.match(pair(lab, 'instance_attach_configuration').end.payload, { ...base, configuration_id: gid })
  t.equal((await lab.req('PUT', url, { body: { instance: { configuration: null } } })).status, 202)
  t.match(pair(lab, 'instance_detach_configuration').end.payload, base)

  // reset_status (admin): synchronous in the API.
  const r = await lab.req('POST', `/v1.0/${lab.admin.project}/instances/${id}/action`, { token: lab.admin.token, body: { reset_status: {} } })
  t.equal(r.status, 202)
  e = pair(lab, 'instance_reset_status')
  t.match(e.start.payload, { instance_id: id, tenant_id: lab.admin.project, request_id: r.headers['x-openstack-request-id'] })
  t.match(e.end, { publisher_id: /^api\./, instance_id: id })
})

t.test('periodic trove.instance.exists and dbaas.quota', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false, rateLimits: [], existsIntervalMs: 150, quotaNotificationIntervalMs: 150 })
  const n = lab.server.lab.notifications
  const { id } = await activeInstance(t, lab)
  // Events from before the instance turned ACTIVE (every 150 ms) say `build`: wait for an active one.
  const active = () => n.list('trove.instance.exists').filter((e) => e.instance_id === id && (e.payload as { state?: string }).state === 'active')
  await until(() => active().length > 0, 5000, 'exists event of the active instance')
  const exists = active().at(-1)!
  t.match(exists, { publisher_id: /^taskmanager\./, priority: 'INFO' })
  t.match(exists.payload, {
    instance_id: id,
    instance_name: 'events',
    display_name: 'events',
    instance_type_id: '1',
    instance_type: 'm1.tiny',
    instance_size: 512,
    tenant_id: lab.demo.project,
    region: 'RegionOne',
    state: 'active',
    state_description: 'active',
    volume_size: 1,
    service_id: '7a4f82cc-10d2-4bc6-aadc-d9aacc2a3cb5',
    audit_period_beginning: /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/,
    audit_period_ending: /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/,
  })
  t.ok(Date.parse(exists.payload.audit_period_ending as string) - Date.parse(exists.payload.audit_period_beginning as string) <= 1000, 'the audit period is the interval')
  await until(() => n.list('dbaas.quota').some((e) => e.payload.tenant_id === lab.demo.project && e.payload.resource === 'instances'), 5000, 'quota event')
  const q = n
    .list('dbaas.quota')
    .filter((e) => e.payload.tenant_id === lab.demo.project && e.payload.resource === 'instances')
    .at(-1)!
  t.match(q.payload, { resource: 'instances', in_use: 1, reserved: 0, limit: 20, updated: /^\d{4}-/ })
  t.same(
    new Set(
      n
        .list('dbaas.quota')
        .filter((e) => e.payload.tenant_id === lab.demo.project)
        .map((e) => e.payload.resource),
    ),
    new Set(['instances', 'ram', 'backups', 'volumes']),
  )

  // stopPeriodic (called by close) ends them.
  n.stopPeriodic()
  const count = n.list().length
  // Past the point where each stopped interval (150 ms) would have ticked again.
  await timersArmedBefore(150)
  t.equal(n.list().length, count, 'no periodic event after stopPeriodic')
})

t.test('periodic events are off when their interval is 0 (quota off by default)', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false, rateLimits: [], existsIntervalMs: 0 })
  await activeInstance(t, lab)
  // Past any tick an interval made of 0 could have (setInterval makes 0 one millisecond).
  await timersArmedBefore(150)
  t.equal(lab.server.lab.notifications.list('trove.instance.exists').length, 0)
  t.equal(lab.server.lab.notifications.list('dbaas.quota').length, 0)
})

function connect(o: { port: number; ca: string; username?: string; password?: string; clientId?: string }): Promise<mqtt.MqttClient> {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect({
      host: '127.0.0.1',
      port: o.port,
      protocol: 'mqtts',
      ca: readFileSync(o.ca),
      username: o.username,
      password: o.password,
      clientId: o.clientId ?? `sub-${Math.random().toString(16).slice(2)}`,
      reconnectPeriod: 0,
      connectTimeout: 3000,
    })
    c.once('connect', () => resolve(c))
    c.once('error', (err) => {
      c.end(true)
      reject(err)
    })
  })
}

t.test('external subscribers: DIR/notifications.json (0600) logs in read-only to the notification topics', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false, rateLimits: [] })
  const file = join(lab.dataDir, 'notifications.json')
  t.equal(statSync(file).mode & 0o777, 0o600, 'notifications.json is 0600')
  const cred = JSON.parse(readFileSync(file, 'utf8')) as { host: string; port: number; ca: string; username: string; password: string; topic: string }
  const brokerPort = JSON.parse(readFileSync(lab.server.lab.brokerFile, 'utf8')).port as number
  t.match(cred, { host: '127.0.0.1', port: brokerPort, ca: join(lab.dataDir, 'tls', 'ca.crt'), username: 'notifications', topic: 'trove/notify/#' })
  // The broker speaks TLS only: a plain MQTT client gets no CONNACK.
  const plain = mqtt.connect({ host: '127.0.0.1', port: cred.port, username: cred.username, password: cred.password, reconnectPeriod: 0, connectTimeout: 3000 })
  t.equal(
    await new Promise((r) => {
      plain.once('connect', () => r('connected'))
      plain.once('close', () => r('closed'))
    }),
    'closed',
    'a plain-TCP login gets no CONNACK',
  )
  plain.end(true)
  t.ok(cred.password.length >= 40, 'a long random secret')
  t.notMatch(JSON.stringify(lab.server.lab.db.prepare('SELECT value FROM settings').pluck().all()), cred.password, 'only a digest is stored')
  t.notMatch(lab.logs.join('\n'), cred.password, 'the secret is not logged')
  // The same secret on the next start (the file keeps working), with the current address.
  const again = new SubscriberCredentials(lab.server.lab.db).ensure(file, { host: '127.0.0.1', port: brokerPort, ca: cred.ca })
  t.equal(again.password, cred.password, 'stable across starts')

  await t.rejects(connect({ port: cred.port, ca: cred.ca }), /not authorized/i, 'anonymous still refused')
  await t.rejects(connect({ port: cred.port, ca: cred.ca, username: 'notifications', password: 'wrong' }), /Bad username or password|not authorized/i, 'wrong password refused')

  await t.rejects(
    connect({ port: cred.port, ca: cred.ca, username: cred.username, password: cred.password, clientId: 'agent-11111111-1111-1111-1111-111111111111' }),
    /not authorized/i,
    "an agent's client id refused (it would take over the agent's session)",
  )
  const sub = await connect({ port: cred.port, ca: cred.ca, username: cred.username, password: cred.password })
  t.teardown(() => {
    sub.end(true)
  })
  const got: Array<{ topic: string; msg: Record<string, any> }> = []
  sub.on('message', (topic, payload) => got.push({ topic, msg: JSON.parse(payload.toString()) }))
  t.equal((await sub.subscribeAsync(cred.topic, { qos: 1 }))[0].qos, 1, 'notification topics: granted')
  for (const filter of ['#', 'trove/#', '+/notify/#', 'trove/agent/+/rpc', agentRpcTopic('11111111-1111-1111-1111-111111111111'), '$SYS/#', 'trove/notify']) {
    await t.rejects(sub.subscribeAsync(filter, { qos: 1 }), /Subscribe error/, `subscribe ${filter}: refused`)
  }

  const p = `/v1.0/${lab.demo.project}`
  const g = await lab.req('POST', `${p}/configurations`, { body: { configuration: { name: 'heard', values: {}, datastore: { type: 'mariadb' } } } })
  t.equal(g.status, 200)
  await until(() => got.some((x) => x.msg.event_type === 'dbaas.configuration_create.end'), 5000, 'event received by the subscriber')
  const end = got.find((x) => x.msg.event_type === 'dbaas.configuration_create.end')!
  t.equal(end.topic, notificationTopic('dbaas.configuration_create.end'))
  t.match(end.msg, { message_id: /^[0-9a-f-]{36}$/, priority: 'INFO', payload: { name: 'heard', configuration_id: g.body.configuration.id } })

  // Publishing anything is refused: nothing reaches the server's own subscribers, and the client is dropped.
  const bus = lab.server.lab.notifications.bus!
  const seen: string[] = []
  await new Promise<void>((r) =>
    bus.subscribe(
      'trove/#',
      (packet, cb) => {
        seen.push(packet.topic)
        cb()
      },
      r,
    ),
  )
  const dropped = new Promise<void>((r) => sub.once('close', () => r()))
  sub.publish(notificationTopic('dbaas.forged.end'), '{}', { qos: 1 })
  sub.publish(agentRpcTopic('11111111-1111-1111-1111-111111111111'), '{}', { qos: 0 })
  await dropped
  // A barrier: an event the server publishes now reaches the bus after anything the dropped client's
  // packets could have published (the broker handles a client's packets in order, then closes it).
  t.equal((await lab.req('POST', `${p}/configurations`, { body: { configuration: { name: 'barrier', values: {}, datastore: { type: 'mariadb' } } } })).status, 200)
  await until(() => seen.includes(notificationTopic('dbaas.configuration_create.end')), 5000, 'the barrier event on the bus')
  t.same(
    seen.filter((x) => x.includes('forged') || x.includes('/agent/')),
    [],
    'no forged publication delivered',
  )
})
