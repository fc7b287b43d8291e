import t from 'tap'
import { createServer } from 'node:http'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { apiLab } from '../helpers/api.js'
import { scriptedAgent, until } from '../helpers/scripted-agent.js'
import { notificationTopic } from '../../src/protocol/index.js'

t.test('instance and configuration events: stored, published at QoS 1, POSTed to the webhook', async (t) => {
  const posted: Array<Record<string, any>> = []
  const hook = createServer((req, res) => {
    let b = ''
    req.on('data', (c) => {
      b += c
    })
    req.on('end', () => {
      posted.push(JSON.parse(b))
      res.end()
    })
  })
  await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r))
  t.teardown(() => new Promise<void>((r) => hook.close(() => r())))
  const lab = await apiLab(t, { spawnAgents: false, rateLimits: [], notificationWebhook: `http://127.0.0.1:${(hook.address() as { port: number }).port}/hook` })
  const p = `/v1.0/${lab.demo.project}`
  const n = lab.server.lab.notifications

  const published: Array<{ topic: string; qos: number; msg: Record<string, any> }> = []
  await new Promise<void>((r) =>
    n.bus!.subscribe(
      notificationTopic('#'),
      (packet, cb) => {
        published.push({ topic: packet.topic, qos: packet.qos, msg: JSON.parse(packet.payload.toString()) })
        cb()
      },
      r,
    ),
  )

  const created = await lab.req('POST', `${p}/instances`, {
    body: { instance: { name: 'noisy', flavorRef: '1', volume: { size: 1 }, datastore: { type: 'postgresql' }, users: [{ name: 'u', password: 'secret-pw' }] } },
  })
  t.equal(created.status, 200)
  const id = created.body.instance.id as string
  const start = n.list('dbaas.instance_create.start')[0]
  t.match(start, { publisher_id: /^api\./, priority: 'INFO', instance_id: id })
  t.match(start.payload, {
    tenant_id: lab.demo.project,
    server_type: 'api',
    request_id: created.headers['x-openstack-request-id'],
    name: 'noisy',
    flavor_id: '1',
    datastore: 'postgresql',
    region_name: 'RegionOne',
    users: 'u',
    image_id: null,
  })
  t.notMatch(JSON.stringify(start), /secret-pw/, 'no passwords in notifications')

  await until(() => existsSync(join(lab.dataDir, 'instances', id, 'agent.json')), 5000, 'bootstrap')
  const agent = await scriptedAgent(lab.dataDir, id)
  t.teardown(() => agent.close())
  await agent.heartbeat('HEALTHY')
  await until(() => n.list('dbaas.instance_create.end').length === 1, 5000, 'create end')
  const end = n.list('dbaas.instance_create.end')[0]
  t.match(end, { publisher_id: /^taskmanager\./ })
  t.match(end.payload, { instance_id: id, server_type: 'taskmanager', request_id: start.payload.request_id, tenant_id: lab.demo.project })
  const usage = n.list('trove.instance.create')[0].payload
  t.match(usage, {
    instance_id: id,
    instance_name: 'noisy',
    instance_type_id: '1',
    instance_type: 'm1.tiny',
    instance_size: 512,
    tenant_id: lab.demo.project,
    region: 'RegionOne',
    state: 'active',
    state_description: 'active',
    volume_size: 1,
    service_id: 'ac277e0d-4f21-40aa-b347-1ea31e571720',
  })

  t.equal((await lab.req('POST', `${p}/instances/${id}/action`, { body: { restart: {} } })).status, 202)
  await until(() => n.list('dbaas.instance_restart.end').length === 1, 5000, 'restart end')
  t.match(n.list('dbaas.instance_restart.start')[0].payload, { instance_id: id })

  t.equal((await lab.req('DELETE', `${p}/instances/${id}`)).status, 202)
  await until(() => n.list('trove.instance.delete').length === 1, 10_000, 'delete usage event')
  t.match(n.list('trove.instance.delete')[0].payload, { instance_id: id, deleted_at: /^\d{4}-/, state: 'deleted' })
  t.equal(n.list('dbaas.instance_delete.end').length, 1)

  const g = await lab.req('POST', `${p}/configurations`, { body: { configuration: { name: 'grp', values: {}, datastore: { type: 'postgresql' } } } })
  t.equal(g.status, 200)
  const gid = g.body.configuration.id
  t.equal((await lab.req('PATCH', `${p}/configurations/${gid}`, { body: { configuration: { values: {} } } })).status, 200)
  t.equal((await lab.req('PUT', `${p}/configurations/${gid}`, { body: { configuration: { values: {}, name: 'grp2' } } })).status, 202)
  t.equal((await lab.req('DELETE', `${p}/configurations/${gid}`)).status, 202)
  t.match(n.list('dbaas.configuration_create.end')[0].payload, { name: 'grp', datastore: 'postgresql', configuration_id: gid, server_type: 'api' })
  t.match(n.list('dbaas.configuration_update.start')[0].payload, { configuration_id: gid, name: 'grp2' })
  t.equal(n.list('dbaas.configuration_edit.end').length, 1)
  t.equal(n.list('dbaas.configuration_delete.end').length, 1)

  const types = n.list().map((e) => e.event_type)
  t.same(types.slice(0, 4), ['dbaas.instance_create.start', 'trove.instance.create', 'dbaas.instance_create.end', 'dbaas.instance_restart.start'])
  await until(() => published.length === types.length && posted.length === types.length, 5000, 'every event published and posted')
  t.same(
    published.map((x) => x.topic),
    types.map((e) => `trove/notify/${e}`),
  )
  t.ok(
    published.every((x) => x.qos === 1),
    'QoS 1',
  )
  t.same(posted.map((m) => m.event_type).sort(), [...types].sort(), 'every event POSTed (concurrent POSTs may arrive out of order)')
  t.match(posted[0], { message_id: /^[0-9a-f-]{36}$/, publisher_id: /^api\./, priority: 'INFO', timestamp: /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$/ })
})

t.test('a failed build sends .error; a dead webhook is logged and blocks nothing', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false, rateLimits: [], buildTimeoutMs: 60_000, notificationWebhook: 'http://127.0.0.1:9/nothing-listens' })
  const p = `/v1.0/${lab.demo.project}`
  const n = lab.server.lab.notifications
  const id = (await lab.req('POST', `${p}/instances`, { body: { instance: { name: 'doomed', flavorRef: '1', volume: { size: 1 }, datastore: { type: 'postgresql' } } } })).body.instance.id
  await until(() => existsSync(join(lab.dataDir, 'instances', id, 'agent.json')), 5000, 'bootstrap')
  const agent = await scriptedAgent(lab.dataDir, id)
  t.teardown(() => agent.close())
  await agent.heartbeat('FAILED', 'initdb: no space left')
  await until(() => n.list('dbaas.instance_create.error').length === 1, 5000, 'create error')
  t.match(n.list('dbaas.instance_create.error')[0], { priority: 'ERROR', payload: { instance_id: id, message: 'initdb: no space left', exception: ['initdb: no space left'] } })
  await until(() => lab.logs.some((l) => /webhook http:\/\/127\.0\.0\.1:9\/nothing-listens failed/.test(l)), 5000, 'webhook failure logged')
})
