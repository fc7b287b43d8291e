import t from 'tap'
import { apiLab } from '../../helpers/api.js'
import { DEFAULT_RATE_LIMITS, RateLimiter, parseRateLimits, type RateLimitRule } from '../../../src/server/http/rate-limit.js'
import { instanceDirs } from '../../helpers/guest.js'

const rule = (verb: string, value: number, unit: RateLimitRule['unit'], regex = '.*', uri = '*'): RateLimitRule => ({ verb, uri, regex, value, unit })
const U = '/v1.0/p1/instances'

t.test('leaky bucket: a burst of value, then one per unit/value', async (t) => {
  let now = 1000
  const limiter = new RateLimiter([rule('GET', 3, 'SECOND')], () => now)
  t.same([limiter.check('p1', 'GET', U), limiter.check('p1', 'GET', U), limiter.check('p1', 'GET', U)], [0, 0, 0], 'three pass')
  const d = limiter.check('p1', 'GET', U)
  t.ok(Math.abs(d - 1000 / 3) < 1e-6, `the fourth waits a third of a second (${d})`)
  t.equal(limiter.refusedDetails, 'Only 3 GET request(s) can be made to * every second.')
  t.equal(limiter.check('p2', 'GET', U), 0, 'another project has its own bucket')
  t.equal(limiter.check('p1', 'POST', U), 0, 'other verbs are not limited by the rule')
  now += 334
  t.equal(limiter.check('p1', 'GET', U), 0, 'one more once a third has leaked')
  t.ok(limiter.check('p1', 'GET', U) > 0, 'and only one')
  now += 1000
  t.same([limiter.check('p1', 'GET', U), limiter.check('p1', 'GET', U), limiter.check('p1', 'GET', U)], [0, 0, 0], 'the whole burst after a full unit')
})

t.test('exactly value requests fit whatever the rounding', async (t) => {
  for (const value of [3, 7, 200, 1000]) {
    const limiter = new RateLimiter([rule('GET', value, 'MINUTE')], () => 0)
    let passed = 0
    while (limiter.check('p', 'GET', U) === 0) passed++
    t.equal(passed, value, `${value} per minute`)
  }
})

t.test('regexes match the path below the project, anchored like re.match', async (t) => {
  const limiter = new RateLimiter([rule('POST', 1, 'MINUTE', '^/mgmt', '*/mgmt'), rule('GET', 1, 'MINUTE', '/instances/[^/]+$', '*/instances/{id}')], () => 0)
  t.equal(limiter.check('p', 'POST', '/v1.0/p/instances?x=/mgmt'), 0)
  t.equal(limiter.check('p', 'POST', '/v1.0/p/instances/mgmt'), 0)
  t.equal(limiter.check('p', 'POST', '/v1.0/p/instances'), 0, 'paths not matching are not counted')
  t.equal(limiter.check('p', 'POST', '/v1.0/p/mgmt/quotas/x'), 0)
  t.ok(limiter.check('p', 'POST', '/v1.0/p/mgmt/instances') > 0, 'the second POST below /mgmt is refused')
  t.equal(limiter.check('p', 'GET', '/v1.0/p/instances'), 0, 'the list does not match /instances/{id}')
  t.equal(limiter.check('p', 'GET', '/v1.0/p/instances'), 0)
  t.equal(limiter.check('p', 'GET', '/v1.0/p/instances/abc'), 0)
  t.ok(limiter.check('p', 'GET', '/v1.0/p/instances/def') > 0)
})

t.test('every matching rule counts; the smallest delay wins', async (t) => {
  const limiter = new RateLimiter([rule('POST', 2, 'MINUTE'), rule('POST', 1, 'SECOND', '^/mgmt', '*/mgmt')], () => 0)
  t.equal(limiter.check('p', 'POST', '/v1.0/p/mgmt/x'), 0)
  const d = limiter.check('p', 'POST', '/v1.0/p/mgmt/x')
  t.equal(d, 1000, 'the per-second rule refuses')
  t.equal(limiter.refusedDetails, 'Only 1 POST request(s) can be made to */mgmt every second.')
  t.equal(limiter.view('p')[0].remaining, 0, 'the per-minute rule counted the refused request')
  const d2 = limiter.check('p', 'POST', '/v1.0/p/mgmt/x')
  t.equal(d2, 1000, 'both refuse now: the smaller delay')
})

t.test('view: remaining and nextAvailable at this moment', async (t) => {
  let now = 0
  const limiter = new RateLimiter([rule('GET', 2, 'MINUTE')], () => now)
  t.same(
    limiter.view('p').map((v) => v.remaining),
    [2],
    'untouched',
  )
  limiter.check('p', 'GET', U)
  limiter.check('p', 'GET', U)
  const before = Date.now()
  const v = limiter.view('p')[0]
  const after = Date.now()
  t.equal(v.remaining, 0)
  const next = Date.parse(v.nextAvailable)
  // Bounded by the wall clock read on either side (nextAvailable is cut to whole seconds).
  t.ok(next > before + 29_000 && next <= after + 30_000, 'the next request fits in 30 s')
  now += 30_000
  t.equal(limiter.view('p')[0].remaining, 1, 'leaked back')
})

t.test('configuration', async (t) => {
  t.same(parseRateLimits('(POST, *, .*, 200, MINUTE);(get, */mgmt, ^/mgmt, 5, second)'), [rule('POST', 200, 'MINUTE'), rule('GET', 5, 'SECOND', '^/mgmt', '*/mgmt')], "upstream's limits string")
  t.same(parseRateLimits('  '), [])
  t.throws(() => parseRateLimits('POST, *, .*, 200, MINUTE'), /parentheses/)
  t.throws(() => parseRateLimits('(POST, *, .*, 200)'), /verb, uri, regex, value, unit/)
  t.throws(() => parseRateLimits('(POST, *, .*, 200, WEEK)'), /Invalid units/)
  t.throws(() => new RateLimiter([rule('GET', 0, 'MINUTE')]), /must be > 0/)
  t.throws(() => new RateLimiter([{ ...rule('GET', 1, 'MINUTE'), unit: 'WEEK' as 'DAY' }]), /unit/)
  t.equal(DEFAULT_RATE_LIMITS.length, 5)
})

t.test('over the limit: 413 with Retry-After, per project, recovering after the window', async (t) => {
  // The limiter's clock moves only when the test moves it: a slow machine cannot leak a request early.
  let now = 0
  const lab = await apiLab(t, { spawnAgents: false, rateLimits: [rule('GET', 3, 'SECOND'), rule('POST', 1, 'MINUTE')], rateLimitClock: () => now })
  const p = `/v1.0/${lab.demo.project}`
  for (let i = 0; i < 3; i++) t.equal((await lab.req('GET', `${p}/flavors`)).status, 200, `GET ${i + 1} passes`)
  const refused = await lab.req('GET', `${p}/flavors`)
  t.equal(refused.status, 413)
  t.same(refused.body, {
    overLimit: { code: 413, message: 'This request was rate-limited.', details: 'Only 3 GET request(s) can be made to * every second.', retryAfter: '1' },
  })
  t.same(Object.keys(refused.body.overLimit), ['code', 'message', 'details', 'retryAfter'])
  t.equal(refused.headers['retry-after'], '1')
  t.ok(refused.headers['x-openstack-request-id'], 'still a request id')
  t.equal((await lab.req('GET', `/v1.0/${lab.admin.project}/flavors`, { token: lab.admin.token })).status, 200, 'another project is not limited')
  t.equal((await lab.req('GET', `${p}/flavors`, { token: 'nope' })).status, 401, 'no token: 401 first, not counted')

  now += 1000
  for (let i = 0; i < 3; i++) t.equal((await lab.req('GET', `${p}/flavors`)).status, 200, `after the window: GET ${i + 1} passes`)

  const body = { instance: { name: 'x', flavorRef: '1', volume: { size: 1 }, datastore: { type: 'postgresql' } } }
  t.equal((await lab.req('POST', `${p}/instances`, { body: {} })).status, 400, 'a bad request counts too')
  const limited = await lab.req('POST', `${p}/instances`, { body })
  t.equal(limited.status, 413)
  t.equal(limited.body.overLimit.retryAfter, '60', 'a minute until the next POST')
  t.equal(limited.body.overLimit.details, 'Only 1 POST request(s) can be made to * every minute.')
  t.equal(lab.server.lab.instances.listAll().length, 0, 'a rate-limited create makes nothing')
  t.same(instanceDirs(lab.dataDir), [])
})

t.test('a rule on part of the API leaves the rest alone', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false, rateLimits: [rule('GET', 2, 'MINUTE', '^/limits', '*/limits')] })
  const p = `/v1.0/${lab.demo.project}`
  t.equal((await lab.req('GET', `${p}/limits`)).status, 200)
  const l = await lab.req('GET', `${p}/limits`)
  t.equal(l.body.limits[1].remaining, 0, '/limits shows the rule used up')
  t.equal((await lab.req('GET', `${p}/limits`)).status, 413)
  for (let i = 0; i < 5; i++) t.equal((await lab.req('GET', `${p}/flavors`)).status, 200)
})
