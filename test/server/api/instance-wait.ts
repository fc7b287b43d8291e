// GET /instances/{id}?wait_for_change=STATUS (the long poll --wait uses; README "API notes"):
// advertised on every GET /instances/{id}, answers as soon as the status changes, at once when
// it already differs, after wait_timeout otherwise; 404 when the instance goes or is another
// project's; bad parameters are 400; a server that closes answers its polls first.
import t from 'tap'
import { apiLab, otherMember } from '../../helpers/api.js'
import { scriptedAgent, until } from '../../helpers/scripted-agent.js'

const createBody = (name: string) => ({ instance: { name, flavorRef: '1', volume: { size: 1 }, datastore: { type: 'redis' } } })

t.test('a long poll answers when the status changes, and only then', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false, rateLimits: [] })
  const L = lab.server.lab
  const p = `/v1.0/${lab.demo.project}`
  const id = (await lab.req('POST', `${p}/instances`, { body: createBody('waited') })).body.instance.id as string
  const agent = await scriptedAgent(lab.dataDir, id)
  t.teardown(() => agent.close())

  const plain = await lab.req('GET', `${p}/instances/${id}`)
  t.equal(plain.body.instance.status, 'BUILD')
  t.equal(plain.headers['x-trove-wait-for-change'], '25', 'every GET /instances/{id} offers the long poll (longest wait, s)')

  const differs = await lab.req('GET', `${p}/instances/${id}?wait_for_change=ACTIVE`)
  t.equal(differs.body.instance.status, 'BUILD', 'a status other than the one given: answered at once')
  t.equal(L.instances.changes.waiting, 0)

  let answered = false
  const poll = lab.req('GET', `${p}/instances/${id}?wait_for_change=BUILD&wait_timeout=25`).finally(() => {
    answered = true
  })
  await until(() => L.instances.changes.waiting === 1, 5000, 'the poll waiting')
  await agent.heartbeat('BUILDING')
  await until(() => L.instances.guestStatus(id)?.status_description === 'building', 5000, 'the BUILDING heartbeat applied')
  t.equal(answered, false, 'a heartbeat that leaves the status BUILD does not answer it')
  await agent.heartbeat('HEALTHY')
  const changed = await poll
  t.equal(changed.status, 200)
  t.equal(changed.body.instance.status, 'ACTIVE', 'answered with the new status')
  t.equal(changed.body.instance.operating_status, 'HEALTHY')
  t.equal(L.instances.changes.waiting, 0, 'no waiter left')

  const t0 = Date.now()
  const same = await lab.req('GET', `${p}/instances/${id}?wait_for_change=ACTIVE&wait_timeout=0.3`)
  t.equal(same.body.instance.status, 'ACTIVE', 'no change within wait_timeout: the instance as it is')
  t.ok(Date.now() - t0 >= 290, `after wait_timeout (${Date.now() - t0} ms)`)

  const gone = lab.req('GET', `${p}/instances/${id}?wait_for_change=ACTIVE`)
  await until(() => L.instances.changes.waiting === 1, 5000, 'the poll waiting')
  L.instances.markDeleted(id)
  const r = await gone
  t.equal(r.status, 404, 'an instance deleted meanwhile: 404')
  t.same(r.body, { itemNotFound: { code: 404, message: `Resource ${id} cannot be found.` } }, 'the fault body of any GET of a missing instance')
})

t.test("bad parameters are 400; another project's instance is 404 before any wait", async (t) => {
  const lab = await apiLab(t, { spawnAgents: false, rateLimits: [] })
  const p = `/v1.0/${lab.demo.project}`
  const id = (await lab.req('POST', `${p}/instances`, { body: createBody('bad-input') })).body.instance.id as string
  for (const v of ['x', '-1', '26', '', 'Infinity']) {
    const r = await lab.req('GET', `${p}/instances/${id}?wait_for_change=BUILD&wait_timeout=${v}`)
    t.same([r.status, r.body], [400, { badRequest: { code: 400, message: `Invalid wait_timeout '${v}': a number of seconds from 0 to 25.` } }], `wait_timeout=${v}`)
  }
  const empty = await lab.req('GET', `${p}/instances/${id}?wait_for_change=`)
  t.same([empty.status, empty.body], [400, { badRequest: { code: 400, message: 'wait_for_change needs the status last seen, e.g. wait_for_change=BUILD.' } }])

  const member = otherMember(lab)
  const foreign = await lab.req('GET', `/v1.0/${member.project}/instances/${id}?wait_for_change=BUILD&wait_timeout=25`, { token: member.token })
  t.equal(foreign.status, 404, "another project's instance: 404")
  t.equal(lab.server.lab.instances.changes.waiting, 0, 'and nothing waited')
})

t.test('closing the server answers the polls in flight', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false, rateLimits: [] })
  const p = `/v1.0/${lab.demo.project}`
  const id = (await lab.req('POST', `${p}/instances`, { body: createBody('closing') })).body.instance.id as string
  const poll = lab.req('GET', `${p}/instances/${id}?wait_for_change=BUILD&wait_timeout=25`)
  await until(() => lab.server.lab.instances.changes.waiting === 1, 5000, 'the poll waiting')
  const t0 = Date.now()
  await lab.server.close()
  const r = await poll
  t.equal(r.body.instance.status, 'BUILD', 'answered with the status as it is')
  t.ok(Date.now() - t0 < 10_000, `close() did not wait for the poll's timeout (${Date.now() - t0} ms)`)
})
