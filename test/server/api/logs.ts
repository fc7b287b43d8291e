import t, { type Test } from 'tap'
import { apiLab, missingFields, otherMember, type ApiLab } from '../../helpers/api.js'
import { sample } from '../../helpers/lab.js'
import { scriptedAgent, until, type ScriptedHandler } from '../../helpers/scripted-agent.js'
import type { RpcRequest } from '../../../src/protocol/index.js'

/** A guest with two logs in memory (general USER exposed, error SYS hidden). */
function fakeGuest() {
  const logs = [
    { name: 'general', type: 'USER', status: 'Disabled', published: 0, pending: 0, container: 'None', prefix: 'None', metafile: 'x/mariadb-general_metafile', exposed: true },
    { name: 'error', type: 'SYS', status: 'Ready', published: 0, pending: 10, container: 'None', prefix: 'None', metafile: 'x/mariadb-error_metafile', exposed: false },
  ]
  const requests: Array<Record<string, unknown>> = []
  const view = ({ exposed: _e, ...l }: (typeof logs)[number]) => l
  const h: Record<string, ScriptedHandler> = {
    guest_log_list: (r: RpcRequest) => {
      requests.push(r.args)
      return logs.filter((l) => l.exposed || r.args.is_admin).map(view)
    },
    guest_log_action: (r: RpcRequest) => {
      requests.push(r.args)
      const l = logs.find((x) => x.name === r.args.log_name)
      if (!l) throw new Error(`Log '${String(r.args.log_name)}' is not defined.`)
      if (r.args.enable) l.status = 'Enabled'
      if (r.args.disable) l.status = 'Disabled'
      if (r.args.publish) Object.assign(l, { status: 'Published', published: 128, pending: 0, container: 'database_logs', prefix: `x/mariadb-${l.name}/` })
      if (r.args.discard) Object.assign(l, { published: 0, container: 'None', prefix: 'None' })
      return view(l)
    },
  }
  return { h, requests, logs }
}

async function activeInstance(t: Test, lab: ApiLab, handlers: Record<string, ScriptedHandler>) {
  const p = `/v1.0/${lab.demo.project}`
  const created = await lab.req('POST', `${p}/instances`, { body: { instance: { name: 'i-logs', flavorRef: '1', volume: { size: 1 }, datastore: { type: 'mariadb' } } } })
  const id = created.body.instance.id as string
  const agent = await scriptedAgent(lab.dataDir, id, handlers)
  t.teardown(() => agent.close())
  await agent.heartbeat('HEALTHY')
  await until(async () => (await lab.req('GET', `${p}/instances/${id}`)).body.instance.status === 'ACTIVE', 5000, 'ACTIVE')
  return { id, agent, base: `${p}/instances/${id}` }
}

t.test('instance logs: list, show, enable, publish, discard, errors, isolation', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false, rateLimits: [] })
  const g = fakeGuest()
  const { id, base } = await activeInstance(t, lab, g.h)

  const list = await lab.req('GET', `${base}/log`)
  t.equal(list.status, 200)
  t.same(
    list.body.logs.map((l: { name: string }) => l.name),
    ['general'],
    'a member sees the exposed logs',
  )
  t.same(missingFields(list.body, sample('instance-log-list-response.json')), [], 'list: the sample fields')
  t.equal(g.requests.at(-1)!.is_admin, false, 'the guest is told the caller is no admin')
  const adminList = await lab.req('GET', `/v1.0/${lab.admin.project}/instances/${id}/log`, { token: lab.admin.token })
  t.same(
    adminList.body.logs.map((l: { name: string }) => l.name),
    ['general', 'error'],
    'an admin sees every log',
  )

  const show = await lab.req('POST', `${base}/log`, { body: sample('instance-log-show-request.json') })
  t.equal(show.status, 200)
  t.same(missingFields(show.body, sample('instance-log-show-response.json')), [])
  t.same(g.requests.at(-1), { log_name: 'general', enable: false, disable: false, publish: false, discard: false, is_admin: false }, 'show sends no action')
  for (const action of ['enable', 'publish', 'discard', 'disable']) {
    const r = await lab.req('POST', `${base}/log`, { body: sample(`instance-log-${action}-request.json`) })
    t.equal(r.status, 200, `${action}: 200`)
    t.same(missingFields(r.body, sample(`instance-log-${action}-response.json`)), [], `${action}: the sample fields`)
    t.equal(g.requests.at(-1)![action], true, `${action} reaches the guest`)
  }
  t.match(g.logs[0], { status: 'Disabled', published: 0 })

  t.same(
    (await lab.req('POST', `${base}/log`, { body: { name: 'general', enable: 1, disable: 1 } })).body,
    { badRequest: { code: 400, message: 'Cannot enable and disable log.' } },
    'enable and disable together',
  )
  for (const body of [{}, { name: '' }, { name: 5 }, []]) {
    const r = await lab.req('POST', `${base}/log`, { body })
    t.equal(r.status, 400, `no name (${JSON.stringify(body)}): 400, not upstream's 500`)
  }
  const unknown = await lab.req('POST', `${base}/log`, { body: { name: 'nope' } })
  t.equal(unknown.status, 400, 'a guest refusal is a 400 GuestError')
  t.match(unknown.body.badRequest.message, /Log 'nope' is not defined/)

  // Another project's member: the instance does not exist for them.
  const other = otherMember(lab)
  t.equal((await lab.req('GET', `/v1.0/${other.project}/instances/${id}/log`, { token: other.token })).status, 404, 'isolation: list')
  t.equal((await lab.req('POST', `/v1.0/${other.project}/instances/${id}/log`, { token: other.token, body: { name: 'general' } })).status, 404, 'isolation: action')
  t.equal((await lab.req('GET', `/v1.0/${other.project}/instances/${id}/log/general/contents`, { token: other.token })).status, 404, 'isolation: contents')
  t.equal((await lab.req('GET', `${base.replace(id, '00000000-0000-0000-0000-000000000000')}/log`)).status, 404, 'unknown instance')

  // The lab's contents route: nothing published, bad lines, a bad name.
  const none = await lab.req('GET', `${base}/log/general/contents`)
  t.same(none.body, { itemNotFound: { code: 404, message: `No published 'general' log was found for ${id}` } })
  t.equal((await lab.req('GET', `${base}/log/general/contents?lines=-1`)).status, 400)
  t.equal((await lab.req('GET', `${base}/log/..%2Fx/contents`)).status, 404)
})

t.test('a PostgreSQL-like restart-required answer flags the instance RESTART_REQUIRED', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false, rateLimits: [] })
  const { base, agent } = await activeInstance(t, lab, {
    guest_log_action: () => ({ name: 'general', type: 'USER', status: 'Restart Required', published: 0, pending: 0, container: 'None', prefix: 'None', metafile: 'm' }),
  })
  const r = await lab.req('POST', `${base}/log`, { body: { name: 'general', enable: 1 } })
  t.equal(r.body.log.status, 'Restart Required')
  t.equal((await lab.req('GET', base)).body.instance.status, 'RESTART_REQUIRED')
  await agent.close()
})
