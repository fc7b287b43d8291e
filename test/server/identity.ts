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

  const body = (user: string, password: string, scope?: unknown) => ({
    auth: { identity: { methods: ['password'], password: { user: { name: user, domain: { name: 'Default' }, password } } }, ...(scope ? { scope } : {}) },
  })
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
  t.ok(
    tok.catalog.find((s: { type: string }) => s.type === 'identity'),
    'identity endpoint in the catalog',
  )

  const admin = await lab.req('POST', '/identity/v3/auth/tokens', { token: null, body: body('admin', pw.admin, { project: { name: 'admin', domain: { id: 'default' } } }) })
  t.same(
    admin.body.token.roles.map((r: { name: string }) => r.name),
    ['admin'],
  )

  const bad = await lab.req('POST', '/identity/v3/auth/tokens', { token: null, body: body('demo', 'wrong') })
  t.equal(bad.status, 401)
  t.same(bad.body, { error: { code: 401, title: 'Unauthorized', message: 'The request you have made requires authentication.' } })
  const other = await lab.req('POST', '/identity/v3/auth/tokens', { token: null, body: body('demo', pw.demo, { project: { name: 'admin', domain: { name: 'Default' } } }) })
  t.equal(other.status, 401, 'no role on the project: refused')

  const viaToken = await lab.req('POST', '/identity/v3/auth/tokens', {
    token: null,
    body: { auth: { identity: { methods: ['token'], token: { id: ok.headers['x-subject-token'] } }, scope: { project: { id: tok.project.id } } } },
  })
  t.equal(viaToken.status, 201, 'token method')
  t.ok(viaToken.body.token.expires_at <= tok.expires_at, 'a token from a token does not outlive it')

  const unscoped = await lab.req('POST', '/identity/v3/auth/tokens', { token: null, body: body('demo', pw.demo) })
  t.equal(unscoped.body.token.project.name, 'demo', 'no scope: the default project')

  const check = await lab.req('GET', '/identity/v3/auth/tokens', { token: lab.demo.token, headers: { 'x-subject-token': String(ok.headers['x-subject-token']) } })
  t.equal(check.status, 200)
  t.equal(check.body.token.user.name, 'demo')
  t.equal((await lab.req('GET', '/identity/v3/auth/tokens', { token: lab.demo.token, headers: { 'x-subject-token': 'nope' } })).status, 404)

  const projects = await lab.req('GET', '/identity/v3/projects?name=demo')
  t.same(
    projects.body.projects.map((p: { name: string }) => p.name),
    ['demo'],
  )
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

t.test('token revocation (DELETE /v3/auth/tokens): the subject or an admin; the token is dead at once', async (t) => {
  const lab = await apiLab(t)
  const pw = readCloudPasswords(lab.cloudsFile)!
  const issue = async () =>
    String(
      (
        await lab.req('POST', '/identity/v3/auth/tokens', {
          token: null,
          body: { auth: { identity: { methods: ['password'], password: { user: { name: 'demo', domain: { id: 'default' }, password: pw.demo } } } } },
        })
      ).headers['x-subject-token'],
    )
  const mine = await issue()
  const list = `/v1.0/${lab.demo.project}/instances`
  t.equal((await lab.req('GET', list, { token: mine })).status, 200, 'the token works (and is now cached)')

  t.equal((await lab.req('DELETE', '/identity/v3/auth/tokens', { token: null, headers: { 'x-subject-token': mine } })).status, 401, 'no caller token: 401')
  const missing = await lab.req('DELETE', '/identity/v3/auth/tokens', { token: mine })
  t.same([missing.status, missing.body], [404, { error: { code: 404, title: 'Not Found', message: 'Could not find token.' } }], 'no subject: 404')
  const other = lab.server.lab.identity.createUser('mallory', 'mallory-password-1', lab.demo.project)
  lab.server.lab.identity.assignRole(other.id, lab.demo.project, 'member')
  const mallory = lab.server.lab.identity.issueToken(other, lab.server.lab.identity.findProject({ id: lab.demo.project })!, ['password']).token
  const forbidden = await lab.req('DELETE', '/identity/v3/auth/tokens', { token: mallory, headers: { 'x-subject-token': mine } })
  t.equal(forbidden.status, 403, "a member may not revoke another user's token")
  t.equal((await lab.req('GET', list, { token: mine })).status, 200, 'still valid after the refused revoke')

  // The owner revokes its token with a second token of its own (as `openstack token revoke` does).
  const del = await lab.req('DELETE', '/identity/v3/auth/tokens', { token: lab.demo.token, headers: { 'x-subject-token': mine } })
  t.same([del.status, del.body], [204, undefined], '204, no body')
  t.equal((await lab.req('GET', list, { token: mine })).status, 401, 'the revoked token is refused by the API at once (not after the cache expires)')
  t.equal((await lab.req('GET', '/identity/v3/auth/tokens', { token: lab.demo.token, headers: { 'x-subject-token': mine } })).status, 404, 'validation: 404 Could not find token')
  const viaToken = await lab.req('POST', '/identity/v3/auth/tokens', { token: null, body: { auth: { identity: { methods: ['token'], token: { id: mine } } } } })
  t.equal(viaToken.status, 401, 'no new token from a revoked one')
  t.equal((await lab.req('DELETE', '/identity/v3/auth/tokens', { token: lab.demo.token, headers: { 'x-subject-token': mine } })).status, 404, 'a second revoke: 404')

  const second = await issue()
  t.equal((await lab.req('DELETE', '/identity/v3/auth/tokens', { token: lab.admin.token, headers: { 'x-subject-token': second } })).status, 204, "an admin revokes anyone's token")
  t.equal((await lab.req('GET', list, { token: second })).status, 401)
  const self = await issue()
  t.equal((await lab.req('DELETE', '/identity/v3/auth/tokens', { token: self, headers: { 'x-subject-token': self } })).status, 204, 'a token revokes itself')
  t.equal((await lab.req('GET', list, { token: self })).status, 401)
  t.equal((await lab.req('GET', list)).status, 200, "the user's other tokens still work")
})
