// Password floods against a real lab server over real HTTP (issue 11): checks off the event
// loop, throttled per source and per user, 429 with Retry-After, everyone else still served.
import t, { type Test } from 'tap'
import { createServer } from 'node:net'
import { Pool } from 'undici'
import { readCloudPasswords } from '../../src/server/clouds.js'
import { sourceKey } from '../../src/server/identity/login-guard.js'
import { startLab, type InProcessLab } from '../helpers/lab.js'
import { until } from '../helpers/scripted-agent.js'

/** Whether this host can bind `address` (any 127/8 address on Linux; probed, not assumed). */
const canBind = (address: string) =>
  new Promise<boolean>((resolve) => {
    const s = createServer()
    s.once('error', () => resolve(false))
    s.listen(0, address, () => s.close(() => resolve(true)))
  })
const sources = ['127.0.0.2', '127.0.0.3', '127.0.1.1', '127.0.1.2', '127.0.1.3', '127.0.1.4', '127.0.0.9']
const bindable = (await Promise.all(sources.map(canBind))).every(Boolean)

const passwordBody = (name: string, password: string) => JSON.stringify({ auth: { identity: { methods: ['password'], password: { user: { name, domain: { name: 'Default' }, password } } } } })

interface Answer {
  status: number
  retryAfter?: string
  token?: string
  body: any
}

/** A client bound to `localAddress` posting logins with `connections` connections. */
function client(t: Test, lab: InProcessLab, localAddress: string, connections = 1) {
  const pool = new Pool(lab.url, { connections, localAddress })
  t.teardown(() => pool.close())
  const login = async (name: string, password: string): Promise<Answer> => {
    const r = await pool.request({ method: 'POST', path: '/identity/v3/auth/tokens', headers: { 'content-type': 'application/json' }, body: passwordBody(name, password) })
    const text = await r.body.text()
    return { status: r.statusCode, retryAfter: r.headers['retry-after'] as string | undefined, token: r.headers['x-subject-token'] as string | undefined, body: text ? JSON.parse(text) : undefined }
  }
  return { pool, login }
}

const statuses = (answers: Answer[]) =>
  answers.reduce<Record<number, number>>((m, a) => {
    m[a.status] = (m[a.status] ?? 0) + 1
    return m
  }, {})

t.test('source keys: IPv4 as is, IPv4-mapped IPv6 as IPv4, IPv6 by /64', async (t) => {
  t.equal(sourceKey('192.0.2.7'), '192.0.2.7')
  t.equal(sourceKey('::ffff:192.0.2.7'), '192.0.2.7')
  t.equal(sourceKey('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64')
  t.equal(sourceKey('2001:db8:1:2:bbbb:cccc:dddd:eeee'), '2001:db8:1:2::/64', 'the same /64')
  t.equal(sourceKey('2001:db8::1'), '2001:db8:0:0::/64')
  t.equal(sourceKey('::1'), '0:0:0:0::/64')
})

t.test('64 connections of wrong passwords: 10 guesses checked, the rest 429; the API and other logins stay prompt', { skip: bindable ? false : 'cannot bind 127.0.0.2-9' }, async (t) => {
  const lab = await startLab(t, { spawnAgents: false, rateLimits: [] })
  const pw = readCloudPasswords(lab.cloudsFile)!
  const demo = client(t, lab, '127.0.0.3')
  const ok = await demo.login('demo', pw.demo)
  t.equal(ok.status, 201)
  const token = ok.token!
  const project = ok.body.token.project.id as string

  // The API probe: authenticated GET /flavors from 127.0.0.2, back to back while the flood runs.
  const api = new Pool(lab.url, { connections: 1, localAddress: '127.0.0.2' })
  t.teardown(() => api.close())
  let flooding = true
  const lat: number[] = []
  const probe = (async () => {
    while (flooding) {
      const t0 = performance.now()
      const r = await api.request({ method: 'GET', path: `/v1.0/${project}/flavors`, headers: { 'x-auth-token': token } })
      await r.body.dump()
      if (r.statusCode !== 200) throw new Error(`GET /flavors answered ${r.statusCode}`)
      lat.push(performance.now() - t0)
    }
  })()

  // The flood: 64 connections from 127.0.0.1, 5 wrong passwords each for demo (320 guesses).
  const attacker = client(t, lab, '127.0.0.1', 64)
  const answers: Answer[] = []
  await Promise.all(
    Array.from({ length: 64 }, async (_, i) => {
      for (let k = 0; k < 5; k++) answers.push(await attacker.login('demo', `guess-${i}-${k}`))
    }),
  )
  // A right password from another source while the throttle holds 127.0.0.1 back.
  const during = await client(t, lab, '127.0.0.9').login('demo', pw.demo)
  flooding = false
  await probe

  t.same(statuses(answers), { 401: 10, 429: 310 }, 'exactly 10 guesses were checked; the other 310 were refused unchecked')
  // Before issue 11 the synchronous scrypt stalled every call behind the queued guesses (5-8 s each on this machine).
  const worst = Math.max(...lat)
  t.ok(lat.length >= 3, `the API answered during the flood (${lat.length} calls)`)
  t.ok(worst < 2000, `GET /flavors stayed prompt during the flood: worst ${worst.toFixed(0)} ms`)
  t.equal(during.status, 201, 'the user logs in from another address meanwhile')
  const refused = answers.find((a) => a.status === 429)
  t.match(refused?.retryAfter, /^\d+$/, 'Retry-After in seconds')
  t.ok(Number(refused?.retryAfter) >= 1 && Number(refused?.retryAfter) <= 60, `Retry-After ${refused?.retryAfter} within the window`)
  t.same(refused?.body, { error: { code: 429, title: 'Too Many Requests', message: `Too many failed logins from this address; retry in ${refused?.retryAfter} seconds.` } }, "Keystone's error body")
  t.equal(lab.logs.filter((l) => /^password logins from 127\.0\.0\.1 throttled for \d+ s after 10 failures$/.test(l)).length, 1, 'logged once')
  t.notOk(
    lab.logs.some((l) => l.includes('guess-')),
    'no guessed password in the log',
  )
})

t.test('password checks run off the event loop: 128 checked guesses do not stall the API', { skip: bindable ? false : 'cannot bind 127.0.0.2-9' }, async (t) => {
  // A throttle that lets every guess through: what is left to measure is the hashing itself.
  const lab = await startLab(t, { spawnAgents: false, rateLimits: [], loginThrottle: { sourceFailures: 10_000, userFailures: 10_000 } })
  const pw = readCloudPasswords(lab.cloudsFile)!
  const ok = await client(t, lab, '127.0.0.3').login('demo', pw.demo)
  const api = new Pool(lab.url, { connections: 1, localAddress: '127.0.0.2' })
  t.teardown(() => api.close())
  const attacker = client(t, lab, '127.0.0.1', 64)
  let flooding = true
  const answers: Answer[] = []
  const flood = Promise.all(
    Array.from({ length: 64 }, async (_, i) => {
      for (let k = 0; k < 2; k++) answers.push(await attacker.login('demo', `guess-${i}-${k}`))
    }),
  ).finally(() => {
    flooding = false
  })
  const lat: number[] = []
  while (flooding) {
    const t0 = performance.now()
    const r = await api.request({ method: 'GET', path: `/v1.0/${ok.body.token.project.id}/flavors`, headers: { 'x-auth-token': ok.token! } })
    await r.body.dump()
    lat.push(performance.now() - t0)
  }
  await flood
  t.same(statuses(answers), { 401: 128 }, 'every guess was checked')
  // Synchronous scrypt (before issue 11) answered this probe after seconds: it waited behind every queued guess.
  const worst = Math.max(...lat)
  t.ok(lat.length >= 3 && worst < 1000, `GET /flavors answered ${lat.length} times during the flood, worst ${worst.toFixed(0)} ms`)
})

t.test("per user: guesses from many sources stop at the user's count; a source the user logged in from is exempt", { skip: bindable ? false : 'cannot bind 127.0.0.2-9' }, async (t) => {
  const lab = await startLab(t, { spawnAgents: false, rateLimits: [], loginThrottle: { sourceFailures: 5, userFailures: 8, windowSeconds: 10 } })
  const pw = readCloudPasswords(lab.cloudsFile)!
  const home = client(t, lab, '127.0.0.3')
  t.equal((await home.login('demo', pw.demo)).status, 201, 'the user logs in from home first')

  const answers: Answer[] = []
  await Promise.all(
    ['127.0.1.1', '127.0.1.2', '127.0.1.3', '127.0.1.4'].map(async (addr) => {
      const c = client(t, lab, addr, 4)
      await Promise.all(
        Array.from({ length: 4 }, async (_, i) => {
          answers.push(await c.login('demo', `guess-${addr}-${i}`))
        }),
      )
    }),
  )
  t.same(statuses(answers), { 401: 8, 429: 8 }, "four sources of four guesses: 8 checked (the user's count), 8 refused")
  t.ok(
    answers.filter((a) => a.status === 429).every((a) => a.body.error.message.endsWith('for this user; retry in ' + a.retryAfter + ' seconds.')),
    'refused for the user',
  )

  const elsewhere = client(t, lab, '127.0.0.9')
  const stranger = await elsewhere.login('demo', pw.demo)
  t.equal(stranger.status, 429, 'a right password from a new source waits too (it could be the guesser)')
  t.equal((await home.login('demo', pw.demo)).status, 201, "the user's own source still logs in")
  t.equal((await home.login('admin', pw.admin)).status, 201, 'other users are not affected')

  // Unknown names are throttled the same way, so the answers do not tell which names exist.
  const spray = client(t, lab, '127.0.0.2')
  const unknown: Answer[] = []
  for (let i = 0; i < 7; i++) unknown.push(await spray.login(`nobody-${i % 2}`, 'x'))
  t.same(statuses(unknown), { 401: 5, 429: 2 }, "unknown names: 401 until the source's count, then 429")

  // The window passes (10 s here): the counts are forgotten.
  await until(async () => (await elsewhere.login('demo', pw.demo)).status === 201, 30_000, 'the window to pass')
  await until(async () => (await spray.login('nobody-0', 'x')).status === 401, 30_000, 'the spraying source to be let through again')
  t.pass('the counts are forgotten after the window: the user and the source may try again')
})
