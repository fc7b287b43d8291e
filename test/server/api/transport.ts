import t from 'tap'
import { apiLab } from '../../helpers/api.js'

t.test('authentication, tenant check and upstream fault bodies', async (t) => {
  const lab = await apiLab(t)
  const p = `/v1.0/${lab.demo.project}`

  const anon = await lab.req('GET', `${p}/instances`, { token: null })
  t.equal(anon.status, 401)
  t.same(anon.body, { error: { code: 401, title: 'Unauthorized', message: 'The request you have made requires authentication.' } })
  t.equal((await lab.req('GET', `${p}/instances`, { token: 'tlab-forged' })).status, 401)

  const other = await lab.req('GET', `/v1.0/${lab.admin.project}/instances`)
  t.equal(other.status, 403, 'another project in the path')
  t.same(other.body, { forbidden: { code: 403, message: `User with tenant id ${lab.demo.project} cannot access this resource.` } })
  t.equal((await lab.req('GET', `/v1.0/${lab.demo.project}/instances`, { token: lab.admin.token })).status, 403, 'admins too')
  t.equal((await lab.req('GET', '/v1.0/')).status, 403, 'no project segment')

  const unknown = await lab.req('GET', `${p}/nothing-here`)
  t.equal(unknown.status, 404)
  t.same(unknown.body, { itemNotFound: { code: 404, message: 'The resource could not be found.' } })
  t.equal((await lab.req('PATCH', `${p}/flavors`)).status, 404, 'unknown method: 404, not 405')

  const id = '00000000-0000-0000-0000-000000000000'
  const gone = await lab.req('GET', `${p}/instances/${id}`)
  t.same(gone.body, { itemNotFound: { code: 404, message: `Resource ${id} cannot be found.` } }, 'transcript 45')
  t.match(gone.headers['x-openstack-request-id'], /^req-[0-9a-f-]{36}$/)

  const malformed = await lab.req('POST', `${p}/instances`, { raw: 'this is not json' })
  t.equal(malformed.status, 400)
  t.same(malformed.body, { badRequest: { code: 400, message: 'Malformed request body' } })

  const xml = await lab.req('POST', `${p}/instances`, { raw: '<x/>', headers: { 'content-type': 'text/plain' } })
  t.equal(xml.status, 415)

  const json = await lab.req('GET', `${p}/flavors.json`)
  t.equal(json.status, 200, '.json suffix accepted')

  const big = await lab.req('POST', `${p}/instances`, { raw: JSON.stringify({ instance: { name: 'x'.repeat(2 * 1024 * 1024) } }) })
  t.equal(big.status, 413, 'body size limit')
  t.ok(big.body.overLimit)
})

t.test('instance list pagination', async (t) => {
  const lab = await apiLab(t, { pageSize: 2 })
  const p = `/v1.0/${lab.demo.project}`
  const db = lab.server.lab.db
  const dsv = db.prepare('SELECT id FROM datastore_versions LIMIT 1').pluck().get() as string
  for (let i = 0; i < 5; i++) {
    lab.server.lab.instances.create({
      id: `00000000-0000-0000-0000-00000000000${i}`,
      name: `i${i}`,
      tenant_id: lab.demo.project,
      flavor_id: '1',
      volume_size: 1,
      volume_type: null,
      datastore_version_id: dsv,
      address: null,
      port: null,
      region_id: 'RegionOne',
      access: null,
    })
  }
  const seen: string[] = []
  let url = `${p}/instances`
  for (let page = 0; page < 5 && url; page++) {
    const r = await lab.req('GET', url)
    t.ok(r.body.instances.length <= 2)
    seen.push(...r.body.instances.map((i: { name: string }) => i.name))
    const next = r.body.links?.find((l: { rel: string }) => l.rel === 'next')?.href
    url = next ? new URL(next).pathname + new URL(next).search : ''
  }
  t.same(seen.sort(), ['i0', 'i1', 'i2', 'i3', 'i4'], 'every instance once, across pages')
  t.equal((await lab.req('GET', `/v1.0/${lab.admin.project}/instances`, { token: lab.admin.token })).body.instances.length, 0, 'other projects do not see them')
})
