import t from 'tap'
import { apiLab, missingFields } from '../../helpers/api.js'
import { sample } from '../../helpers/lab.js'

t.test('GET /limits: absolute limits then every rate-limit rule, as the sample', async (t) => {
  // The buckets leak in real time (one request of a 200-per-minute rule every 300 ms): the rate
  // limiter's clock stands still here, so the counts below do not depend on how busy the machine is.
  const lab = await apiLab(t, { spawnAgents: false, rateLimitClock: () => 1_000_000 })
  const p = `/v1.0/${lab.demo.project}`
  const before = Date.now()
  const r = await lab.req('GET', `${p}/limits`)
  t.equal(r.status, 200)
  const expected = sample('limit-show-response.json') as { limits: Array<Record<string, unknown>> }
  t.equal(r.body.limits.length, expected.limits.length, 'one absolute entry and the five default rules')
  expected.limits.forEach((s, i) => {
    t.same(missingFields(r.body.limits[i], s), [], `entry ${i} has every field of the sample`)
  })

  t.same(r.body.limits[0], { verb: 'ABSOLUTE', max_instances: 20, max_ram: -1, max_backups: 100, max_volumes: 200 }, 'the lab defaults')
  t.same(Object.keys(r.body.limits[0]), ['verb', 'max_instances', 'max_ram', 'max_backups', 'max_volumes'], 'keys in upstream order (transcript 10)')
  const rates = r.body.limits.slice(1)
  t.same(Object.keys(rates[0]), ['nextAvailable', 'remaining', 'unit', 'value', 'verb', 'uri', 'regex'], 'keys in upstream order (transcript 10)')
  t.same(
    rates.map((x: Record<string, unknown>) => [x.verb, x.uri, x.regex, x.value, x.unit]),
    [
      ['POST', '*', '.*', 200, 'MINUTE'],
      ['PUT', '*', '.*', 200, 'MINUTE'],
      ['DELETE', '*', '.*', 200, 'MINUTE'],
      ['GET', '*', '.*', 200, 'MINUTE'],
      ['POST', '*/mgmt', '^/mgmt', 200, 'MINUTE'],
    ],
    "upstream's default rules",
  )
  t.same(
    rates.map((x: { remaining: number }) => x.remaining),
    [200, 200, 200, 199, 200],
    'this GET is already counted',
  )
  for (const x of rates) {
    t.match(x.nextAvailable, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, 'nextAvailable: seconds and a Z')
    const at = Date.parse(x.nextAvailable)
    t.ok(at >= Math.floor(before / 1000) * 1000 && at <= Date.now(), 'nothing to wait for: now')
  }

  await lab.req('POST', `${p}/instances`, { body: {} })
  const again = (await lab.req('GET', `${p}/limits`)).body.limits.slice(1)
  t.same(
    again.map((x: { remaining: number }) => x.remaining),
    [199, 200, 200, 198, 200],
    'real remaining counts (a refused POST counts too)',
  )
  const admin = (await lab.req('GET', `/v1.0/${lab.admin.project}/limits`, { token: lab.admin.token })).body.limits
  t.equal(admin[4].remaining, 199, 'counted per project')

  const set = await lab.req('PUT', `/v1.0/${lab.admin.project}/mgmt/quotas/${lab.demo.project}`, { token: lab.admin.token, body: { quotas: { instances: 3, ram: 4096 } } })
  t.equal(set.status, 200)
  t.same((await lab.req('GET', `${p}/limits`)).body.limits[0], { verb: 'ABSOLUTE', max_instances: 3, max_ram: 4096, max_backups: 100, max_volumes: 200 }, 'project overrides')
  t.same((await lab.req('GET', `/v1.0/${lab.admin.project}/limits`, { token: lab.admin.token })).body.limits[0].max_instances, 20, 'other projects keep the defaults')
})

t.test('GET /limits follows the configuration', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false, quotaDefaults: { instances: 2, ram: 8192, backups: 5, volumes: 20 }, rateLimits: [] })
  const r = await lab.req('GET', `/v1.0/${lab.demo.project}/limits`)
  t.same(r.body, { limits: [{ verb: 'ABSOLUTE', max_instances: 2, max_ram: 8192, max_backups: 5, max_volumes: 20 }] }, 'no rules: only the absolute limits')
})
