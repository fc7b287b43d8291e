import t from 'tap'
import { apiLab, missingFields, shape } from '../../helpers/api.js'
import { sample } from '../../helpers/lab.js'
import { detectEngines } from '../../../src/server/compute/engines.js'

t.test('versions, flavors and datastores match upstream shapes', async (t) => {
  const lab = await apiLab(t)
  const p = `/v1.0/${lab.demo.project}`

  const versions = await lab.req('GET', '/', { token: null })
  t.equal(versions.status, 200, 'GET / needs no token')
  t.same(shape(versions.body), shape(sample('versions-response.json')))
  t.equal(versions.body.versions[0].updated, '2012-08-01T00:00:00Z')

  const flavors = await lab.req('GET', `${p}/flavors`)
  t.equal(flavors.status, 200)
  const f = flavors.body.flavors
  t.ok(f.length >= 5)
  t.same(Object.keys(f[0]), ['id', 'links', 'name', 'ram', 'vcpus', 'disk', 'ephemeral', 'str_id'], 'flavor keys in upstream order (transcript 2)')
  t.equal(Math.min(...f.map((x: { ram: number }) => x.ram)), 512)
  t.equal(Math.max(...f.map((x: { ram: number }) => x.ram)), 8192)
  t.same([Math.min(...f.map((x: { vcpus: number }) => x.vcpus)), Math.max(...f.map((x: { vcpus: number }) => x.vcpus))], [1, 4])
  t.equal(typeof f[0].id, 'number')
  t.match(f[0].links[0].href, new RegExp(`/v1.0/${lab.demo.project}/flavors/1$`))
  const one = await lab.req('GET', `${p}/flavors/2`)
  t.equal(one.body.flavor.name, 'm1.small')
  const missing = await lab.req('GET', `${p}/flavors/999`)
  t.equal(missing.status, 404)
  t.same(missing.body, { itemNotFound: { code: 404, message: 'Resource 999 cannot be found.' } })

  const installed = await detectEngines()
  const ds = await lab.req('GET', `${p}/datastores`)
  t.same(ds.body.datastores.map((d: { name: string }) => d.name).sort(), installed.map((e) => e.datastore).sort(), 'one datastore per installed engine')
  t.same(missingFields(ds.body.datastores[0], (sample('datastore-show-response.json') as any).datastore), [], 'datastore has every field of the sample')
  t.same(Object.keys(ds.body.datastores[0]), ['id', 'name', 'links', 'versions', 'default_version'], 'keys in upstream order (transcript 4)')
  for (const d of ds.body.datastores) {
    const e = installed.find((x) => x.datastore === d.name)!
    t.equal(d.versions[0].version, e.version, `${d.name} version read from the binary`)
  }

  const pg = ds.body.datastores.find((d: { name: string }) => d.name === 'postgresql')
  const byName = await lab.req('GET', `${p}/datastores/postgresql`)
  t.equal(byName.body.datastore.id, pg.id, 'datastore by name')
  const pgVersions = await lab.req('GET', `${p}/datastores/postgresql/versions`)
  t.same(Object.keys(pgVersions.body.versions[0]), ['id', 'name', 'version', 'links', 'datastore'], 'version keys (transcript 6)')
  const v = pgVersions.body.versions[0]
  const asAdmin = await lab.req('GET', `/v1.0/${lab.admin.project}/datastores/postgresql/versions/${v.name}`, { token: lab.admin.token })
  t.same(missingFields(asAdmin.body, sample('datastore-version-show-response.json')), [], 'version by name (admin view) has every field of the sample')
  t.same(Object.keys((await lab.req('GET', `${p}/datastores/postgresql/versions/${v.name}`)).body.version), ['id', 'name', 'version', 'links', 'datastore'], 'member view (transcript 7)')
  t.equal((await lab.req('GET', `${p}/datastores/versions/${v.id}`)).body.version.id, v.id, 'version by uuid')
  const badVersion = await lab.req('GET', `${p}/datastores/postgresql/versions/9.9`)
  t.equal(badVersion.status, 400)
  t.same(badVersion.body, { badRequest: { code: 400, message: "Datastore version '9.9' cannot be found." } })
  const nosql = await lab.req('GET', `${p}/datastores/nosql`)
  t.same(nosql.body, { itemNotFound: { code: 404, message: "Datastore 'nosql' cannot be found." } }, 'transcript 54')

  const adminView = await lab.req('GET', `/v1.0/${lab.admin.project}/datastores/postgresql/versions`, { token: lab.admin.token })
  t.match(adminView.body.versions[0], { active: true, packages: String, image_tags: Array }, 'admins see the version details')
  t.equal((await lab.req('GET', `${p}/datastores/postgresql/versions/${v.id}/flavors`)).body.flavors.length, f.length)
})

t.test('an engine that is not installed is not offered, and says how to install it', async (t) => {
  const engines = (await detectEngines()).filter((e) => e.datastore !== 'redis')
  const lab = await apiLab(t, { engines })
  const p = `/v1.0/${lab.demo.project}`
  const list = await lab.req('GET', `${p}/datastores`)
  t.notOk(list.body.datastores.some((d: { name: string }) => d.name === 'redis'))
  const show = await lab.req('GET', `${p}/datastores/redis`)
  t.equal(show.status, 404)
  t.match(show.body.itemNotFound.message, /apt-get install redis-server/)
  const create = await lab.req('POST', `${p}/instances`, { body: { instance: { name: 'r', flavorRef: '1', volume: { size: 1 }, datastore: { type: 'redis' } } } })
  t.equal(create.status, 404)
  t.match(create.body.itemNotFound.message, /^Datastore 'redis' cannot be found\. .*apt-get install redis-server/)
})
