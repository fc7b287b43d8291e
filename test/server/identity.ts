import t from 'tap'
import { apiLab } from '../helpers/api.js'
import { readCloudPasswords } from '../../src/server/clouds.js'
import { statSync } from 'node:fs'

t.test('keystone v3 subset', async (t) => {
  const lab = await apiLab(t)
  const pw = readCloudPasswords(lab.cloudsFile)!

  t.equal(statSync(lab.cloudsFile).mode & 0o777, 0o600, 'clouds.yaml is 0600')
  const disc = await lab.req('GET', '/identity/v3', { token: null })
  t.equal(disc.status, 200)
  t.match(disc.body.version, { id: /^v3\./, status: 'stable' })
  t.equal((await lab.req('GET', '/identity', { token: null })).status, 300, 'unversioned root lists versions with 300')

  const body = (user: string, password: string, scope?: unknown) => ({ auth: { identity: { methods: ['password'], password: { user: { name: user, domain: { name: 'Default' }, password } } }, ...(scope ? { scope } : {}) } })
  const ok = await lab.req('POST', '/identity/v3/auth/tokens', { token: null, body: body('demo', pw.demo, { project: { name: 'demo', domain: { name: 'Default' } } }) })
  t.equal(ok.status, 201)
  t.ok(ok.headers['x-subject-token'], 'X-Subject-Token header')
  const tok = ok.body.token
  t.match(tok.expires_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/, 'expires_at in UTC ending in Z')
  t.same(tok.user.domain, { id: 'default', name: 'Default' })
  t.same(tok.project.domain, { id: 'default', name: 'Default' })
  t.same(tok.roles.map((r: { name: string }) => r.name).sort(), ['member', 'reader'])
  const db = tok.catalog.find((s: { type: string }) => s.type === 'database')
  t.equal(db.endpoints[0].interface, 'public')
  t.equal(db.endpoints[0].region, 'RegionOne')
  t.match(db.endpoints[0].url, new RegExp(`^http://[^/]+/v1\\.0/${tok.project.id}$`), 'database URL holds the project id')
  t.ok(tok.catalog.find((s: { type: string }) => s.type === 'identity'), 'identity endpoint in the catalog')

  const admin = await lab.req('POST', '/identity/v3/auth/tokens', { token: null, body: body('admin', pw.admin, { project: { name: 'admin', domain: { id: 'default' } } }) })
  t.same(admin.body.token.roles.map((r: { name: string }) => r.name), ['admin'])

  const bad = await lab.req('POST', '/identity/v3/auth/tokens', { token: null, body: body('demo', 'wrong') })
  t.equal(bad.status, 401)
  t.same(bad.body, { error: { code: 401, title: 'Unauthorized', message: 'The request you have made requires authentication.' } })
  const other = await lab.req('POST', '/identity/v3/auth/tokens', { token: null, body: body('demo', pw.demo, { project: { name: 'admin', domain: { name: 'Default' } } }) })
  t.equal(other.status, 401, 'no role on the project: refused')

  const viaToken = await lab.req('POST', '/identity/v3/auth/tokens', { token: null, body: { auth: { identity: { methods: ['token'], token: { id: ok.headers['x-subject-token'] } }, scope: { project: { id: tok.project.id } } } } })
  t.equal(viaToken.status, 201, 'token method')
  t.ok(viaToken.body.token.expires_at <= tok.expires_at, 'a token from a token does not outlive it')

  const unscoped = await lab.req('POST', '/identity/v3/auth/tokens', { token: null, body: body('demo', pw.demo) })
  t.equal(unscoped.body.token.project.name, 'demo', 'no scope: the default project')

  const check = await lab.req('GET', '/identity/v3/auth/tokens', { token: lab.demo.token, headers: { 'x-subject-token': String(ok.headers['x-subject-token']) } })
  t.equal(check.status, 200)
  t.equal(check.body.token.user.name, 'demo')
  t.equal((await lab.req('GET', '/identity/v3/auth/tokens', { token: lab.demo.token, headers: { 'x-subject-token': 'nope' } })).status, 404)

  const projects = await lab.req('GET', '/identity/v3/projects?name=demo')
  t.same(projects.body.projects.map((p: { name: string }) => p.name), ['demo'])
  t.equal((await lab.req('GET', `/identity/v3/projects/${lab.admin.project}`)).status, 404, 'members do not see other projects')
  t.equal((await lab.req('GET', `/identity/v3/projects/${lab.demo.project}`, { token: lab.admin.token })).status, 200, 'admins do')
})

t.test('passwords and tokens are stored hashed', async (t) => {
  const lab = await apiLab(t)
  const rows = lab.server.lab.db.prepare('SELECT password_hash FROM users').all() as Array<{ password_hash: string }>
  t.ok(rows.every((r) => r.password_hash.startsWith('scrypt$')))
  const digests = lab.server.lab.db.prepare('SELECT digest FROM tokens').pluck().all() as string[]
  t.notOk(digests.includes(lab.demo.token), 'no clear token in the database')
  t.ok(digests.length >= 2)
})
