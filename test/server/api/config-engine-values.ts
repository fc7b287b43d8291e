// Configuration values the guest or the engine would refuse are refused up front (create, PUT,
// PATCH, attach); a change of an attached group is all or nothing on its instances (issue 11).
import t, { type Test } from 'tap'
import { apiLab, type ApiLab } from '../../helpers/api.js'
import { scriptedAgent, until, type ScriptedHandler } from '../../helpers/scripted-agent.js'
import type { RpcRequest } from '../../../src/protocol/index.js'
import { configurationStore } from '../../../src/server/db/configurations.js'

async function activeInstance(t: Test, lab: ApiLab, name: string, type: string, handlers: Record<string, ScriptedHandler> = {}) {
  const p = `/v1.0/${lab.demo.project}`
  const r = await lab.req('POST', `${p}/instances`, { body: { instance: { name, flavorRef: '1', volume: { size: 1 }, datastore: { type } } } })
  t.equal(r.status, 200, `${name} created`)
  const id = r.body.instance.id as string
  const requests: RpcRequest[] = []
  const record =
    (method: string): ScriptedHandler =>
    (req) => {
      requests.push(req)
      return handlers[method] ? handlers[method]!(req) : null
    }
  const agent = await scriptedAgent(lab.dataDir, id, { ...handlers, update_overrides: record('update_overrides'), apply_overrides: record('apply_overrides') })
  t.teardown(() => agent.close())
  await agent.heartbeat('HEALTHY')
  await until(async () => (await lab.req('GET', `${p}/instances/${id}`)).body.instance.status === 'ACTIVE', 5000, 'ACTIVE')
  const show = async () => (await lab.req('GET', `${p}/instances/${id}`)).body.instance
  const guest = () => requests.map((q) => ({ method: q.method, args: q.args }))
  return { id, show, guest, requests, url: `${p}/instances/${id}` }
}

async function group(lab: ApiLab, name: string, type: string, values: Record<string, unknown>): Promise<string> {
  const r = await lab.req('POST', `/v1.0/${lab.demo.project}/configurations`, { body: { configuration: { name, values, datastore: { type } } } })
  if (r.status !== 200) throw new Error(`group ${name}: ${JSON.stringify(r.body)}`)
  return r.body.configuration.id as string
}

const invalid = (name: string, why: string) => ({ unprocessableEntity: { code: 422, message: `The value provided for the configuration parameter ${name} is not valid: it ${why}.` } })
const CONTROL = 'contains a control character'
const PG_BACKSLASH = 'contains a backslash, which PostgreSQL would read as an escape'
const REDIS_QUOTE = 'contains a quote or a backslash, which Redis would read as quoting'

/** Attacks: [datastore, values, expected fault body]. */
const ATTACKS: Array<[string, Record<string, unknown>, unknown]> = [
  ['postgresql', { search_path: 'public\\' }, invalid('search_path', PG_BACKSLASH)],
  ['postgresql', { log_line_prefix: 'a\\bb' }, invalid('log_line_prefix', PG_BACKSLASH)],
  ['postgresql', { search_path: 'a\nb' }, invalid('search_path', CONTROL)],
  ['postgresql', { application_name_x: 1 }, undefined],
  ['mariadb', { character_set_server: 'utf8\tmb4' }, invalid('character_set_server', CONTROL)],
  ['mariadb', { character_set_server: 'utf8\u0085' }, invalid('character_set_server', CONTROL)],
  ['redis', { 'notify-keyspace-events': 'K"' }, invalid('notify-keyspace-events', REDIS_QUOTE)],
  ['redis', { save: "'900 1" }, invalid('save', REDIS_QUOTE)],
  ['redis', { save: '900 1\r\nslaveof 10.0.0.1 6379' }, invalid('save', CONTROL)],
  [
    'redis',
    { requirepass: 's3cret' },
    {
      unprocessableEntity: {
        code: 422,
        message:
          'The configuration parameter requirepass cannot be set for this datastore: the guest agent connects to Redis without a password and would be locked out; use root enable or ACL users instead.',
      },
    },
  ],
  ['redis', { databases: 0 }, { unprocessableEntity: { code: 422, message: 'The value for the configuration parameter databases is less than the minimum allowed: 1' } }],
  [
    'redis',
    { loglevel: 'loud' },
    { unprocessableEntity: { code: 422, message: 'The value provided for the configuration parameter loglevel is not valid: it must be one of debug, verbose, notice, warning, nothing.' } },
  ],
]

t.test('attacks: create refuses what the guest or the engine would refuse, and stores nothing', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false, rateLimits: [] })
  const p = `/v1.0/${lab.demo.project}`
  for (const [type, values, expected] of ATTACKS) {
    if (expected === undefined) continue
    const r = await lab.req('POST', `${p}/configurations`, { body: { configuration: { name: 'bad', values, datastore: { type } } } })
    t.same(r.body, expected, `${type} ${JSON.stringify(values)}`)
  }
  t.same((await lab.req('GET', `${p}/configurations`)).body.configurations, [], 'no group was created')
  for (const [type, values] of [
    ['redis', { loglevel: 'WARNING', 'maxmemory-policy': 'allkeys-lru', save: '900 1 300 10', databases: 4 }],
    ['postgresql', { search_path: '"$user", public', timezone: 'UTC' }],
  ] as const)
    t.equal((await lab.req('POST', `${p}/configurations`, { body: { configuration: { name: 'good', values, datastore: { type } } } })).status, 200, `${type}: sane values still pass`)
})

t.test('attacks: PUT and PATCH of an attached group refuse such values; nothing written, nothing sent', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false, rateLimits: [] })
  const p = `/v1.0/${lab.demo.project}`
  const inst = await activeInstance(t, lab, 'r', 'redis')
  const cfg = await group(lab, 'r', 'redis', { maxmemory: 1048576 })
  t.equal((await lab.req('PUT', inst.url, { body: { instance: { configuration: cfg } } })).status, 202, 'attached')
  inst.requests.length = 0
  const before = (await lab.req('GET', `${p}/configurations/${cfg}`)).body.configuration
  for (const [type, values, expected] of ATTACKS) {
    if (type !== 'redis') continue
    for (const method of ['PUT', 'PATCH'] as const) {
      const r = await lab.req(method, `${p}/configurations/${cfg}`, { body: { configuration: { values, name: 'renamed' } } })
      t.same(r.body, expected, `${method} ${JSON.stringify(values)}`)
    }
  }
  t.same(inst.guest(), [], 'the guest was asked nothing')
  t.same((await lab.req('GET', `${p}/configurations/${cfg}`)).body.configuration, before, 'the group is unchanged (values, name, updated)')
  t.equal((await inst.show()).status, 'ACTIVE')
})

t.test('a group stored with such a value before is refused at attach and at instance create', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false, rateLimits: [] })
  const p = `/v1.0/${lab.demo.project}`
  const inst = await activeInstance(t, lab, 'pg', 'postgresql')
  const cfg = await group(lab, 'legacy', 'postgresql', { work_mem: '4MB' })
  configurationStore(lab.server.lab.db).groups.merge(cfg, [['search_path', 'public\\']])
  t.same((await lab.req('PUT', inst.url, { body: { instance: { configuration: cfg } } })).body, invalid('search_path', PG_BACKSLASH), 'attach: 422')
  t.same(inst.guest(), [], 'nothing sent')
  t.notOk('configuration' in (await inst.show()), 'not attached')
  const created = await lab.req('POST', `${p}/instances`, { body: { instance: { name: 'x', flavorRef: '1', volume: { size: 1 }, datastore: { type: 'postgresql' }, configuration: cfg } } })
  t.same(created.body, invalid('search_path', PG_BACKSLASH), 'instance create with it: 422')
})

t.test('a PATCH/PUT the engine refuses on an instance is an error, the old values everywhere, the group unchanged', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false, rateLimits: [] })
  const p = `/v1.0/${lab.demo.project}`
  let refuse: ((req: RpcRequest) => boolean) | undefined
  let refuseBack: ((name: string, req: RpcRequest) => boolean) | undefined
  let refuser = ''
  const refusing =
    (name: string, method: string): ScriptedHandler =>
    (req) => {
      if ((refuser === name && refuse?.(req)) || refuseBack?.(name, req)) throw new Error(`${method} refused: Variable 'max_connections' can't be set to the value of '0'`)
      return null
    }
  const handlers = (name: string) => ({ update_overrides: refusing(name, 'update_overrides'), apply_overrides: refusing(name, 'apply_overrides') })
  const x = await activeInstance(t, lab, 'x', 'mariadb', handlers('x'))
  const y = await activeInstance(t, lab, 'y', 'mariadb', handlers('y'))
  // Instances are changed in id order: b, the one refusing, comes after a.
  const [a, b] = x.id < y.id ? [x, y] : [y, x]
  refuser = b === x ? 'x' : 'y'
  const cfg = await group(lab, 'g', 'mariadb', { max_connections: 321, wait_timeout: 60 })
  for (const i of [a, b]) t.equal((await lab.req('PUT', i.url, { body: { instance: { configuration: cfg } } })).status, 202, `attached to ${i.id}`)
  const before = (await lab.req('GET', `${p}/configurations/${cfg}`)).body.configuration
  const old = { max_connections: 321, wait_timeout: 60 }

  for (const stage of ['apply_overrides', 'update_overrides']) {
    a.requests.length = 0
    b.requests.length = 0
    refuse = (req) => req.method === stage && (req.args.overrides as Record<string, unknown>).max_connections === 500
    const r = await lab.req('PATCH', `${p}/configurations/${cfg}`, { body: { configuration: { values: { max_connections: 500 } } } })
    t.equal(r.status, 400, `${stage} refused on b: 400`)
    t.match(
      r.body.badRequest.message,
      new RegExp(`^The configuration could not be applied to instance ${b.id}, nothing was changed: .*${stage} refused`),
      'the answer names the instance and the reason',
    )
    t.same(
      a.guest(),
      [
        { method: 'update_overrides', args: { overrides: { max_connections: 500, wait_timeout: 60 }, remove: false } },
        { method: 'apply_overrides', args: { overrides: { max_connections: 500, wait_timeout: 60 } } },
        { method: 'update_overrides', args: { overrides: old, remove: false } },
        { method: 'apply_overrides', args: { overrides: old } },
      ],
      `${stage}: a, changed first, got its old values back, file and live`,
    )
    const back =
      stage === 'apply_overrides'
        ? [
            { method: 'update_overrides', args: { overrides: { max_connections: 500, wait_timeout: 60 }, remove: false } },
            { method: 'apply_overrides', args: { overrides: { max_connections: 500, wait_timeout: 60 } } },
            { method: 'update_overrides', args: { overrides: old, remove: false } },
            { method: 'apply_overrides', args: { overrides: old } },
          ]
        : [{ method: 'update_overrides', args: { overrides: { max_connections: 500, wait_timeout: 60 }, remove: false } }]
    t.same(b.guest(), back, `${stage}: b refused${stage === 'apply_overrides' ? ', and was put back' : ''}`)
    t.same((await lab.req('GET', `${p}/configurations/${cfg}`)).body.configuration, before, 'the group is unchanged')
    for (const i of [a, b]) t.equal((await i.show()).status, 'ACTIVE', 'both instances ACTIVE on their old values')
  }
  // The first instance cannot even get its old values back: it is marked, and the answer says so.
  refuse = (req) => req.method === 'apply_overrides' && (req.args.overrides as Record<string, unknown>).max_connections === 500
  refuseBack = (name, req) => name !== refuser && req.method === 'update_overrides' && (req.args.overrides as Record<string, unknown>).max_connections === 321
  const stuck = await lab.req('PATCH', `${p}/configurations/${cfg}`, { body: { configuration: { values: { max_connections: 500 } } } })
  t.equal(stuck.status, 400)
  t.match(stuck.body.badRequest.message, `the group was not changed, but instance(s) ${a.id} could not get the old values back and need a restart`)
  t.equal((await a.show()).status, 'RESTART_REQUIRED', 'that instance says it needs a restart')
  t.equal((await b.show()).status, 'ACTIVE', 'the other one is back on its old values')
  t.same((await lab.req('GET', `${p}/configurations/${cfg}`)).body.configuration.values, before.values, 'the group is unchanged')
  lab.server.lab.instances.setTask(a.id, 'NONE')
  refuse = undefined
  refuseBack = undefined
  const put = await lab.req('PUT', `${p}/configurations/${cfg}`, { body: { configuration: { values: { max_connections: 300 } } } })
  t.equal(put.status, 202, 'accepted everywhere: 202')
  t.same(
    a.guest().slice(-2),
    [
      { method: 'update_overrides', args: { overrides: { max_connections: 300 }, remove: false } },
      { method: 'apply_overrides', args: { overrides: { max_connections: 300, wait_timeout: 120 } } },
    ],
    'a key the PUT removed goes back to its base value live',
  )
  t.same((await lab.req('GET', `${p}/configurations/${cfg}`)).body.configuration.values, { max_connections: 300 })
})

t.test('PATCH applies a name and a description when sent', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false, rateLimits: [] })
  const p = `/v1.0/${lab.demo.project}`
  const cfg = await group(lab, 'before', 'mariadb', { max_connections: 50 })
  t.equal((await lab.req('PATCH', `${p}/configurations/${cfg}`, { body: { configuration: { name: 'after', description: 'now described' } } })).status, 200)
  t.match((await lab.req('GET', `${p}/configurations/${cfg}`)).body.configuration, { name: 'after', description: 'now described', values: { max_connections: 50 } })
  t.equal((await lab.req('PATCH', `${p}/configurations/${cfg}`, { body: { configuration: { values: { wait_timeout: 30 } } } })).status, 200)
  t.match(
    (await lab.req('GET', `${p}/configurations/${cfg}`)).body.configuration,
    { name: 'after', description: 'now described', values: { max_connections: 50, wait_timeout: 30 } },
    'kept when not sent',
  )
  t.match(
    (await lab.req('PATCH', `${p}/configurations/${cfg}`, { body: { configuration: { name: '' } } })).body,
    { badRequest: { message: /^Validation error: configuration\['name'\]/ } },
    'an empty name: 400',
  )
})
