// Project isolation on EVERY route (issue 6): the route table is read from the route modules
// themselves (routes/index.ts), so a route added later is covered without editing this test.
// A member calling any route with another project's resource ids gets 404 (401 on admin-only
// mgmt routes), never a 2xx and never a 500: the resources exist (asserted) and mutating routes
// get a body their owner could send, so the ownership check is what answers, not the body's
// validation. The other project's resources are untouched and its guest receives no call. Any route below the other
// project's path is 403. test/server/api/isolation.ts checks the exact bodies of a hand-picked set.
import t from 'tap'
import Fastify from 'fastify'
import { randomUUID } from 'node:crypto'
import { apiLab, otherMember } from '../helpers/api.js'
import { scriptedAgent, until } from '../helpers/scripted-agent.js'
import { tenantRoutes } from '../../src/server/routes/index.js'

/** Collection segment -> the kind of project-owned resource an `:id`-like parameter after it names. */
const OWNED = ['instances', 'configurations', 'modules', 'backups', 'clusters'] as const

t.test("every route: another project's ids are 404/401, its path 403, nothing of it changes", async (t) => {
  const lab = await apiLab(t, { spawnAgents: false, rateLimits: [], reconcileMs: 0 })
  const L = lab.server.lab
  const admin = { token: lab.admin.token }
  const a = `/v1.0/${lab.admin.project}`
  const member = otherMember(lab)
  const asMember = { token: member.token }

  // The route table, as the route modules register it.
  const routes: Array<{ method: string; url: string }> = []
  const probe = Fastify()
  probe.addHook('onRoute', (r) => {
    for (const method of [r.method].flat()) if (method !== 'HEAD') routes.push({ method, url: r.url })
  })
  await probe.register(
    async (app) => {
      await app.register(tenantRoutes, { lab: L })
    },
    { prefix: '/v1.0/:tenant' },
  )
  await probe.ready()
  await probe.close()
  t.ok(routes.length > 60, `${routes.length} routes found`)

  // The other project (admin's) owns one of everything that can be made without engines.
  const theirs: Record<string, string> = {}
  const created = await lab.req('POST', `${a}/instances`, { ...admin, body: { instance: { name: 'theirs-instance', flavorRef: '1', volume: { size: 1 }, datastore: { type: 'postgresql' } } } })
  theirs.instances = created.body.instance.id
  const agent = await scriptedAgent(lab.dataDir, theirs.instances!, { list_users: () => [[], null], list_databases: () => [[], null] })
  t.teardown(() => agent.close())
  await agent.heartbeat('HEALTHY')
  await until(() => L.instances.get(theirs.instances!)?.server_status === 'ACTIVE', 5000, 'ACTIVE')
  const dsv = L.instances.get(theirs.instances!)!.datastore_version_id!
  const cfg = await lab.req('POST', `${a}/configurations`, { ...admin, body: { configuration: { name: 'theirs-config', values: {}, datastore: { type: 'postgresql' } } } })
  t.equal(cfg.status, 200, 'their configuration group exists')
  theirs.configurations = cfg.body.configuration.id
  const mod = await lab.req('POST', `${a}/modules`, { ...admin, body: { module: { name: 'theirs-module', module_type: 'ping', contents: 'aGVsbG8=' } } })
  t.equal(mod.status, 200, 'their module exists')
  theirs.modules = mod.body.module.id
  const bak = await lab.req('POST', `${a}/backups`, { ...admin, body: { backup: { name: 'theirs-backup', instance: theirs.instances } } })
  t.equal(bak.status, 202, 'their backup exists')
  theirs.backups = bak.body.backup.id
  await agent.called('create_backup') // the owner's own guest call, before the member's requests are counted
  // Clusters cannot exist in this lab (every cluster create is 501): an unknown id stands in.
  theirs.clusters = randomUUID()
  for (const kind of ['instances', 'configurations', 'modules', 'backups'] as const) {
    t.equal((await lab.req('GET', `${a}/${kind}/${theirs[kind]}`, admin)).status, 200, `their ${kind} ${theirs[kind]} is there for its owner`)
  }
  agent.calls.length = 0

  const snapshot = async () => {
    const out: Record<string, unknown> = {}
    for (const [kind, id] of Object.entries(theirs)) {
      const r = await lab.req('GET', `${a}/${kind}/${id}`, admin)
      const body = r.body as Record<string, Record<string, unknown>> | undefined
      const item = body && typeof body === 'object' ? { ...(Object.values(body)[0] ?? {}) } : body
      if (item && typeof item === 'object') {
        delete (item as Record<string, unknown>).volume
        delete (item as Record<string, unknown>).operating_status
      }
      out[kind] = [r.status, item]
    }
    return out
  }
  const before = await snapshot()

  /** The path with every parameter filled: `tenant` the caller's path project, resource ids the other project's. */
  const fill = (url: string, tenant: string) => {
    const segs = url.split('/')
    return segs
      .map((s, i) => {
        if (!s.startsWith(':')) return s
        const name = s.slice(1).split('|')[0]!
        if (name === 'tenant') return tenant
        const owner = segs[i - 1] ?? ''
        if ((OWNED as readonly string[]).includes(owner)) return theirs[owner]!
        if (name === 'module_id') return theirs.modules!
        if (name === 'project') return lab.admin.project
        if (['vid', 'ver', 'id'].includes(name) && url.includes('datastore')) return dsv
        if (name === 'ds') return 'postgresql'
        if (name === 'user') return 'theirs-user'
        if (['name', 'db'].includes(name)) return 'theirs_db'
        return randomUUID()
      })
      .join('/')
  }
  const ownedIn = (url: string) => OWNED.some((k) => new RegExp(`/${k}/:`).test(url))
  /**
   * A body the route would accept from the owner, so that the ownership check, not the
   * body's validation, is what answers the member.
   */
  const VALID: Record<string, unknown> = {
    'POST /instances/:id/action': { restart: {} },
    'PUT /instances/:id': { instance: { name: 'renamed' } },
    'PATCH /instances/:id': { instance: { name: 'renamed' } },
    'POST /instances/:id/databases': { databases: [{ name: 'newdb' }] },
    'POST /instances/:id/users': { users: [{ name: 'newuser', password: 'pw-123456' }] },
    'PUT /instances/:id/users/:user': { user: { name: 'renamed' } },
    'PUT /instances/:id/users/:user/databases': { databases: [{ name: 'theirs_db' }] },
    'POST /instances/:id/log': { name: 'general', enable: 1 },
    'POST /instances/:id/modules': { modules: [{ id: theirs.modules }] },
    'POST /instances/:id/schedules': { schedule: { name: 'nightly', pattern: '0 3 * * *' } },
    'PUT /configurations/:id': { configuration: { values: { max_connections: 50 } } },
    'PATCH /configurations/:id': { configuration: { values: { max_connections: 50 } } },
    'PUT /modules/:id': { module: { name: 'renamed' } },
    'PUT /modules/:id/instances': { reapply: { force: 1 } },
    'POST /backups/:id/action': {},
    'POST /clusters/:id': { grow: [{ flavorRef: '1', volume: { size: 1 } }] },
  }
  const bodyFor = (method: string, url: string) => {
    if (method === 'GET' || method === 'DELETE') return undefined
    return VALID[`${method} ${url.slice('/v1.0/:tenant'.length)}`] ?? {}
  }
  const theirIds = Object.values(theirs)

  const problems: string[] = []
  let checked = 0
  for (const { method, url } of routes) {
    // 1. Through the member's own project, aimed at the other project's resources.
    const path = fill(url, member.project)
    const r = await lab.req(method, path, { ...asMember, body: bodyFor(method, url) })
    checked++
    const what = `${method} ${url}`
    if (r.status >= 500 && r.status !== 501) problems.push(`${what}: ${r.status} ${JSON.stringify(r.body)}`)
    if (method === 'GET' && url.endsWith('/mgmt/quotas/:project')) {
      // api.md 7.5: a member may read its own project's quota; another project's is 403.
      if (r.status !== 403) problems.push(`${what}: another project's quota answered ${r.status}, not 403`)
    } else if (url.includes('/mgmt/')) {
      if (r.status !== 401) problems.push(`${what}: member on an admin-only route got ${r.status}, not 401`)
    } else if (ownedIn(url)) {
      if (r.status !== 404) problems.push(`${what}: another project's resource answered ${r.status}, not 404: ${JSON.stringify(r.body).slice(0, 200)}`)
    }
    if (r.status >= 200 && r.status < 300) {
      const text = JSON.stringify(r.body ?? '')
      for (const id of theirIds) if (text.includes(id)) problems.push(`${what}: the answer names the other project's ${id}`)
      if (/theirs-/.test(text)) problems.push(`${what}: the answer names the other project's resources`)
    }
    // 2. Below the other project's path: the tenant check refuses everything.
    const other = await lab.req(method, fill(url, lab.admin.project), { ...asMember, body: bodyFor(method, url) })
    checked++
    if (other.status !== 403) problems.push(`${method} ${url} below another project's path: ${other.status}, not 403`)
  }
  t.same(problems, [], `${checked} requests: isolation holds on every route`)
  t.same(agent.calls, [], "no request reached the other project's guest")
  t.same(await snapshot(), before, "the other project's resources are unchanged")
  t.notOk(
    lab.logs.some((l) => /^error req-/.test(l)),
    'no 500 logged',
  )
})
