import t from 'tap'
import { apiLab, missingFields, type ApiLab } from '../../helpers/api.js'
import { until } from '../../helpers/scripted-agent.js'
import { sample } from '../../helpers/lab.js'
import { instanceDirs } from '../../helpers/guest.js'

// Flavor 1 (m1.tiny) has 512 MB of RAM.
const create = (name: string, size = 1) => ({ instance: { name, flavorRef: '1', volume: { size }, datastore: { type: 'postgresql' } } })

async function usage(lab: ApiLab, project = lab.demo.project): Promise<Record<string, { in_use: number; reserved: number; limit: number }>> {
  const r = await lab.req('GET', `/v1.0/${project}/mgmt/quotas/${project}`, project === lab.admin.project ? { token: lab.admin.token } : {})
  return Object.fromEntries(r.body.quotas.map((q: { resource: string; in_use: number; reserved: number; limit: number }) => [q.resource, { in_use: q.in_use, reserved: q.reserved, limit: q.limit }]))
}

async function setQuota(lab: ApiLab, quotas: Record<string, number>) {
  const r = await lab.req('PUT', `/v1.0/${lab.admin.project}/mgmt/quotas/${lab.demo.project}`, { token: lab.admin.token, body: { quotas } })
  if (r.status !== 200) throw new Error(`quota update failed: ${JSON.stringify(r.body)}`)
}

const labInstanceDirs = (lab: ApiLab) => instanceDirs(lab.dataDir)

t.test('quota show: own project or admin; shape of the sample', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false })
  const p = `/v1.0/${lab.demo.project}`

  const own = await lab.req('GET', `${p}/mgmt/quotas/${lab.demo.project}`)
  t.equal(own.status, 200)
  t.same(
    own.body,
    {
      quotas: [
        { resource: 'instances', in_use: 0, reserved: 0, limit: 20 },
        { resource: 'ram', in_use: 0, reserved: 0, limit: -1 },
        { resource: 'backups', in_use: 0, reserved: 0, limit: 100 },
        { resource: 'volumes', in_use: 0, reserved: 0, limit: 200 },
      ],
    },
    'the lab defaults (upstream: 10, 50, 40), nothing used',
  )
  t.same(missingFields(own.body, sample('quota-show-response.json')), [], 'every field of the sample')
  t.same(Object.keys(own.body.quotas[0]), ['resource', 'in_use', 'reserved', 'limit'], 'keys in upstream order')

  const other = await lab.req('GET', `${p}/mgmt/quotas/${lab.admin.project}`)
  t.equal(other.status, 403, 'a member cannot see another project')
  t.same(other.body, { forbidden: { code: 403, message: `Operation not allowed for tenant ${lab.demo.project}.` } })

  const byAdmin = await lab.req('GET', `/v1.0/${lab.admin.project}/mgmt/quotas/${lab.demo.project}`, { token: lab.admin.token })
  t.equal(byAdmin.status, 200, 'an admin sees any project')
  t.same(byAdmin.body, own.body)

  const wrongTenant = await lab.req('GET', `/v1.0/${lab.admin.project}/mgmt/quotas/${lab.admin.project}`)
  t.equal(wrongTenant.status, 403, 'the tenant check still applies')
})

t.test('quota update: admin only, upstream body and faults, no partial update', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false })
  const url = `/v1.0/${lab.admin.project}/mgmt/quotas/${lab.demo.project}`
  const put = (body: unknown, token = lab.admin.token) => lab.req('PUT', url, { token, body })

  const member = await lab.req('PUT', `/v1.0/${lab.demo.project}/mgmt/quotas/${lab.demo.project}`, { body: sample('quota-update.json') })
  t.equal(member.status, 401, 'upstream admin_context answers 401')
  t.same(member.body, { unauthorized: { code: 401, message: 'User does not have admin privileges.' } })

  const ok = await put(sample('quota-update.json'))
  t.equal(ok.status, 200)
  t.same(ok.body, sample('quota-update.json'), 'the response of the sample')
  t.same(Object.keys(ok.body.quotas), ['instances', 'backups'], 'only the updated resources, in the order given')
  let u = await usage(lab)
  t.equal(u.instances.limit, 10)
  t.equal(u.backups.limit, 30)
  t.equal(u.volumes.limit, 200, 'others keep their default')

  const nulls = await put({ quotas: { instances: null, ram: 2048, volumes: -1 } })
  t.same(nulls.body, { quotas: { ram: 2048, volumes: -1 } }, 'null limits are skipped; -1 is accepted')
  u = await usage(lab)
  t.same([u.instances.limit, u.ram.limit, u.volumes.limit], [10, 2048, -1])

  const before = await usage(lab)
  const cases: Array<[string, unknown, number, string, string]> = [
    ['no body', undefined, 400, 'badRequest', 'Invalid request body.'],
    ['empty body', {}, 400, 'badRequest', 'Invalid request body.'],
    ['no quotas key', { quota: { instances: 1 } }, 400, 'badRequest', "Validation error: 'quotas' is a required property"],
    ['quotas not an object', { quotas: 'x' }, 400, 'badRequest', "Validation error: quotas 'x' is not of type 'object'"],
    ['limit not an integer', { quotas: { instances: 'x' } }, 400, 'badRequest', "Validation error: quotas['instances'] 'x' is not of type 'integer', 'null'"],
    ['limit a float', { quotas: { instances: 1.5 } }, 400, 'badRequest', "Validation error: quotas['instances'] 1.5 is not of type 'integer', 'null'"],
    ['limit too big', { quotas: { ram: 2147483648 } }, 400, 'badRequest', "Validation error: quotas['ram'] 2147483648 is greater than the maximum of 2147483647"],
    ['limit below -1', { quotas: { instances: -2 } }, 400, 'badRequest', "Quota limit '-2' for 'instances' is too small - must be at least '-1'."],
    ['unknown resource', { quotas: { cores: 4 } }, 404, 'itemNotFound', 'Unknown quota resources cores.'],
    ['unknown after a good one', { quotas: { instances: 3, cores: 4 } }, 404, 'itemNotFound', 'Unknown quota resources cores.'],
    ['too small after a good one', { quotas: { instances: 3, backups: -5 } }, 400, 'badRequest', "Quota limit '-5' for 'backups' is too small - must be at least '-1'."],
  ]
  for (const [what, body, status, fault, message] of cases) {
    const r = await put(body)
    t.equal(r.status, status, `${what}: status`)
    t.same(r.body, { [fault]: { code: status, message } }, `${what}: fault body`)
  }
  t.same(await usage(lab), before, 'no bad request changed a limit')

  const malformed = await lab.req('PUT', url, { token: lab.admin.token, raw: '{"quotas":' })
  t.equal(malformed.status, 400, 'malformed JSON')

  const another = await lab.req('PUT', `/v1.0/${lab.admin.project}/mgmt/quotas/${lab.admin.project}`, { token: lab.admin.token, body: { quotas: { instances: 1 } } })
  t.equal(another.status, 200)
  t.equal((await usage(lab, lab.admin.project)).instances.limit, 1, 'limits are per project')
  t.equal((await usage(lab)).instances.limit, 10)
})

t.test('create is refused with 413 at the limit and leaves nothing behind; delete frees the quota', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false, buildTimeoutMs: 300 })
  const p = `/v1.0/${lab.demo.project}`
  await setQuota(lab, { instances: 1 })

  const first = await lab.req('POST', `${p}/instances`, { body: create('first', 2) })
  t.equal(first.status, 200)
  t.same(
    await usage(lab),
    {
      instances: { in_use: 1, reserved: 0, limit: 1 },
      ram: { in_use: 512, reserved: 0, limit: -1 },
      backups: { in_use: 0, reserved: 0, limit: 100 },
      volumes: { in_use: 2, reserved: 0, limit: 200 },
    },
    'usage committed with the create: one instance, its flavor RAM and its volume',
  )

  const second = await lab.req('POST', `${p}/instances`, { body: create('second') })
  t.equal(second.status, 413)
  t.same(second.body, { overLimit: { code: 413, message: "Quota exceeded for resources: ['instances']." } })
  t.equal((await lab.req('GET', `${p}/instances`)).body.instances.length, 1, 'no row for the refused create')
  t.same(labInstanceDirs(lab), [first.body.instance.id], 'no instance directory for the refused create')
  t.equal((await usage(lab)).instances.reserved, 0, 'nothing left reserved')

  await setQuota(lab, { instances: 5, ram: 1000, volumes: 2 })
  const both = await lab.req('POST', `${p}/instances`, { body: create('third') })
  t.same(both.body, { overLimit: { code: 413, message: "Quota exceeded for resources: ['ram', 'volumes']." } }, 'every resource over, sorted')
  await setQuota(lab, { ram: -1, volumes: 40 })

  // Deleting needs the instance out of BUILD: the build times out (no agent) into ERROR.
  const id = first.body.instance.id
  await until(async () => (await lab.req('GET', `${p}/instances/${id}`)).body.instance.status !== 'BUILD', 5000, 'out of BUILD')
  await setQuota(lab, { instances: 1 })
  const del = await lab.req('DELETE', `${p}/instances/${id}`)
  t.equal(del.status, 202)
  t.same((await usage(lab)).instances, { in_use: 0, reserved: 0, limit: 1 }, 'released as soon as the delete is accepted')
  t.equal((await usage(lab)).ram.in_use, 0)
  t.equal((await usage(lab)).volumes.in_use, 0)
  const repeated = (await lab.req('DELETE', `${p}/instances/${id}`)).status
  t.ok(repeated === 202 || repeated === 404, 'a repeated delete: accepted while deleting, 404 once gone')
  t.equal((await usage(lab)).instances.in_use, 0, '... and releases nothing twice')

  const again = await lab.req('POST', `${p}/instances`, { body: create('again') })
  t.equal(again.status, 200, 'the freed slot can be used')
})

t.test('a create that fails after the reservation rolls it back', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false })
  const p = `/v1.0/${lab.demo.project}`
  const compute = lab.server.lab.compute
  const reserve = compute.reserve
  compute.reserve = async () => {
    throw new Error('no address left')
  }
  const r = await lab.req('POST', `${p}/instances`, { body: create('doomed') })
  compute.reserve = reserve
  t.equal(r.status, 500)
  t.same((await usage(lab)).instances, { in_use: 0, reserved: 0, limit: 20 }, 'rolled back')
  const statuses = lab.server.lab.db.prepare('SELECT status FROM reservations').pluck().all()
  t.same(statuses, ['Rolled Back', 'Rolled Back', 'Rolled Back'], 'one reservation per resource, each rolled back')
})

t.test('concurrent creates never exceed the quota', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false, quotaDefaults: { instances: 3, ram: -1, backups: 50, volumes: 40 } })
  const p = `/v1.0/${lab.demo.project}`
  const results = await Promise.all(Array.from({ length: 8 }, (_, i) => lab.req('POST', `${p}/instances`, { body: create(`c${i}`) })))
  const codes = results.map((r) => r.status).sort()
  t.same(codes, [200, 200, 200, 413, 413, 413, 413, 413], 'exactly the quota succeeds')
  t.equal((await lab.req('GET', `${p}/instances`)).body.instances.length, 3)
  t.equal(labInstanceDirs(lab).length, 3)
  t.same((await usage(lab)).instances, { in_use: 3, reserved: 0, limit: 3 }, 'quotaDefaults is the default limit')
})

t.test('open reservations of a server that died are rolled back at start', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false })
  const quotas = lab.server.lab.quotas
  quotas.reserve(lab.demo.project, { instances: 1, ram: 512 })
  t.equal((await usage(lab)).instances.reserved, 1)
  t.equal(quotas.rollbackOpen(), 2)
  t.same((await usage(lab)).instances, { in_use: 0, reserved: 0, limit: 20 })
  t.equal(quotas.rollbackOpen(), 0, 'nothing open any more')
})
