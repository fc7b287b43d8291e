import t from 'tap'
import { apiLab, otherMember } from '../../helpers/api.js'
import { scriptedAgent, until, type ScriptedHandler } from '../../helpers/scripted-agent.js'
import type { RpcRequest } from '../../../src/protocol/index.js'

/** A guest applying modules in memory the way handlers/modules.ts does (ping: the message is the result). */
function fakeGuest() {
  const applied = new Map<string, Record<string, unknown>>()
  const h: Record<string, ScriptedHandler> = {
    module_apply: (r: RpcRequest) =>
      (r.args.modules as Array<{ module: Record<string, unknown> }>).map(({ module: m }) => {
        const msg = /message=(.*)/.exec(Buffer.from(String(m.contents), 'base64').toString())?.[1]
        const res = {
          id: m.id,
          name: m.name,
          type: m.type,
          datastore: m.datastore,
          datastore_version: m.datastore_version,
          tenant: m.tenant,
          md5: m.md5,
          status: msg ? 'OK' : 'ERROR',
          message: msg ?? 'Message not found in contents file',
          removed: null,
          contents: m.contents,
        }
        applied.set(String(m.id), res)
        return res
      }),
    module_list: (r: RpcRequest) => [...applied.values()].filter((m) => !m.removed).map(({ contents, ...m }) => (r.args.include_contents ? { ...m, contents } : m)),
    module_remove: (r: RpcRequest) => {
      applied.get(String((r.args.module as { module: { id: string } }).module.id))!.removed = 'now'
      return null
    },
  }
  return { h, applied }
}

const b64 = (s: string) => Buffer.from(s).toString('base64')

t.test('instance modules: apply through the guest, list (server and guest), remove; create with modules and auto-apply', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false, rateLimits: [] })
  const p = `/v1.0/${lab.demo.project}`
  const a = `/v1.0/${lab.admin.project}`
  const g = fakeGuest()
  const mod = async (body: Record<string, unknown>, admin = false) =>
    (await lab.req('POST', `${admin ? a : p}/modules`, { token: admin ? lab.admin.token : undefined, body: { module: { module_type: 'ping', ...body } } })).body.module
  const ping = await mod({ name: 'ping-ok', contents: b64('message=hello from ping\n') })
  const bad = await mod({ name: 'ping-bad', contents: b64('nothing here\n') })
  const pg = await mod({ name: 'pg-only', contents: b64('message=x'), datastore: { type: 'postgresql' } })
  const auto = await mod({ name: 'auto', contents: b64('message=auto'), auto_apply: 1, all_tenants: 1 }, true)
  const other = otherMember(lab)
  const foreign = (await lab.req('POST', `/v1.0/${other.project}/modules`, { token: other.token, body: { module: { name: 'foreign', module_type: 'ping', contents: 'x' } } })).body.module

  const created = await lab.req('POST', `${p}/instances`, { body: { instance: { name: 'i-mod', flavorRef: '1', volume: { size: 1 }, datastore: { type: 'mariadb' }, modules: [{ id: ping.id }] } } })
  t.equal(created.status, 200, 'create with modules is accepted')
  const id = created.body.instance.id as string
  const base = `${p}/instances/${id}`
  const agent = await scriptedAgent(lab.dataDir, id, g.h)
  t.teardown(() => agent.close())
  await agent.heartbeat('HEALTHY')
  await until(async () => (await lab.req('GET', base)).body.instance.status === 'ACTIVE', 5000, 'ACTIVE')
  t.same([...g.applied.keys()].sort(), [ping.id, auto.id].sort(), 'the create-time module and the auto-apply module were applied')
  t.same((await lab.req('GET', `${base}/modules`)).body.modules.map((m: { name: string }) => m.name).sort(), ['auto', 'ping-ok'])

  const r = await lab.req('POST', `${base}/modules`, { body: { modules: [{ id: bad.id }, { id: foreign.id }, { id: '00000000-0000-0000-0000-000000000000' }] } })
  t.equal(r.status, 200)
  t.match(r.body.modules, [{ name: 'ping-bad', status: 'ERROR', message: 'Message not found in contents file' }], 'unknown and foreign ids skipped; the guest result')
  t.same(g.applied.get(bad.id)!.contents, b64('nothing here\n'), 'the guest gets the contents in the clear (as the client sent them)')
  t.match(
    (await lab.req('POST', `${base}/modules`, { body: { modules: [{ id: pg.id }] } })).body,
    { badRequest: { code: 400, message: /^The module is invalid: Module 'pg-only' cannot be applied \(Wrong datastore/ } },
    'datastore mismatch: 400',
  )
  t.equal((await lab.req('POST', `${base}/modules`, { body: { nope: 1 } })).status, 400, 'no modules list: 400')

  const fromGuest = await lab.req('GET', `${base}/modules?from_guest=true`)
  t.same(fromGuest.body.modules.map((m: { name: string; status: string }) => [m.name, m.status]).sort(), [
    ['auto', 'OK'],
    ['ping-bad', 'ERROR'],
    ['ping-ok', 'OK'],
  ])
  t.notOk('contents' in fromGuest.body.modules[0])
  t.ok((await lab.req('GET', `${base}/modules?from_guest=true&include_contents=true`)).body.modules.every((m: { contents?: string }) => typeof m.contents === 'string'))
  t.equal((await lab.req('GET', `${p}/modules/${ping.id}`)).body.module.instance_count, 1, 'instance_count counts it')

  t.equal((await lab.req('DELETE', `${base}/modules/${bad.id}`)).status, 200)
  t.ok(g.applied.get(bad.id)!.removed, 'the guest removed it')
  t.same((await lab.req('GET', `${base}/modules`)).body.modules.map((m: { name: string }) => m.name).sort(), ['auto', 'ping-ok'], 'no longer listed')
  t.equal((await lab.req('DELETE', `${base}/modules/${foreign.id}`)).status, 404, 'a module the caller cannot see: 404')
  t.equal((await lab.req('POST', `/v1.0/${other.project}/instances/${id}/modules`, { token: other.token, body: { modules: [{ id: foreign.id }] } })).status, 404, 'isolation')

  // Reapply: a live_update module whose contents changed goes to the guest again.
  const live = await mod({ name: 'live', contents: b64('message=v1'), live_update: 1 })
  await lab.req('POST', `${base}/modules`, { body: { modules: [{ id: live.id }] } })
  const v2 = (await lab.req('PUT', `${p}/modules/${live.id}`, { body: { module: { contents: b64('message=v2') } } })).body.module
  t.not(v2.md5, live.md5, 'new contents, new md5')
  t.match(await lab.req('GET', `${p}/modules/${live.id}/instances?count_only=true`), { body: { instances: [{ current: false, instance_count: 1 }] } })
  t.equal((await lab.req('PUT', `${p}/modules/${live.id}/instances`, { body: { reapply: {} } })).status, 202)
  await until(() => g.applied.get(live.id)!.message === 'v2', 5000, 'the reapply')
  await until(async () => (await lab.req('GET', `${p}/modules/${live.id}/instances?count_only=true`)).body.instances[0].current === true, 5000, 'current md5 recorded')

  const mismatch = await lab.req('POST', `${p}/instances`, { body: { instance: { name: 'i-bad', flavorRef: '1', volume: { size: 1 }, datastore: { type: 'mariadb' }, modules: [{ id: pg.id }] } } })
  t.equal(mismatch.status, 400, 'create with a module of another datastore: 400')
})
