import t from 'tap'
import { apiLab } from '../helpers/api.js'

const K = '/identity/v3'
const kerr = (code: number, title: string, message: string) => ({ error: { code, title, message } })

t.test('Keystone admin subset: projects, users, roles, grants, assignments', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false, rateLimits: [] })
  const admin = { token: lab.admin.token }

  const p = await lab.req('POST', `${K}/projects`, { ...admin, body: { project: { name: 'team', description: 'a team', enabled: true } } })
  t.equal(p.status, 201)
  t.match(p.body.project, { id: /^[0-9a-f]{32}$/, name: 'team', domain_id: 'default', description: 'a team', enabled: true, is_domain: false })
  const projectId = p.body.project.id as string
  t.same(
    (await lab.req('POST', `${K}/projects`, { ...admin, body: { project: { name: 'team' } } })).body,
    kerr(409, 'Conflict', 'Conflict occurred attempting to store project - Duplicate entry found with name team at domain ID default.'),
    'names are unique in the domain',
  )
  t.same((await lab.req('POST', `${K}/projects`, { ...admin, body: { project: { name: 'x', domain_id: 'other' } } })).body, kerr(404, 'Not Found', 'Could not find domain: other.'))
  t.equal((await lab.req('POST', `${K}/projects`, { ...admin, body: { project: {} } })).status, 400)

  const u = await lab.req('POST', `${K}/users`, { ...admin, body: { user: { name: 'alice', password: 's3cret-pw', default_project_id: projectId, enabled: true } } })
  t.equal(u.status, 201)
  t.match(u.body.user, { name: 'alice', domain_id: 'default', default_project_id: projectId, enabled: true, password_expires_at: null })
  t.notOk('password' in u.body.user, 'no password in the view')
  const userId = u.body.user.id as string
  t.equal((await lab.req('POST', `${K}/users`, { ...admin, body: { user: { name: 'alice' } } })).status, 409)
  t.same((await lab.req('POST', `${K}/users`, { ...admin, body: { user: { name: 'bob', default_project_id: 'nope' } } })).body, kerr(404, 'Not Found', 'Could not find project: nope.'))
  const hash = lab.server.lab.db.prepare('SELECT password_hash FROM users WHERE id = ?').pluck().get(userId) as string
  t.match(hash, /^scrypt\$/, 'stored as a scrypt hash')
  t.notOk(lab.logs.join('\n').includes('s3cret-pw'), 'the password is never logged')

  const login = async (password: string) =>
    lab.req('POST', `${K}/auth/tokens`, {
      token: null,
      body: {
        auth: { identity: { methods: ['password'], password: { user: { name: 'alice', domain: { name: 'Default' }, password } } }, scope: { project: { name: 'team', domain: { name: 'Default' } } } },
      },
    })
  t.equal((await login('s3cret-pw')).status, 401, 'no role on the project yet: no scoped token')

  const roles = (await lab.req('GET', `${K}/roles`, admin)).body.roles as Array<{ id: string; name: string }>
  t.same(
    roles.map((r) => r.name),
    ['admin', 'member', 'reader'],
  )
  const member = roles.find((r) => r.name === 'member')!
  t.equal((await lab.req('GET', `${K}/roles?name=member`, admin)).body.roles[0].id, member.id)
  const grant = `${K}/projects/${projectId}/users/${userId}/roles/${member.id}`
  t.equal((await lab.req('PUT', grant, admin)).status, 204)
  t.equal((await lab.req('HEAD', grant, admin)).status, 204, 'check grant')
  const scoped = await login('s3cret-pw')
  t.equal(scoped.status, 201, 'the member logs in to its project')
  const aliceToken = String(scoped.headers['x-subject-token'])
  t.equal((await lab.req('GET', `/v1.0/${projectId}/instances`, { token: aliceToken })).status, 200, 'and uses the database API')

  const ra = await lab.req('GET', `${K}/role_assignments?scope.project.id=${projectId}&include_names=True`, admin)
  t.same(
    ra.body.role_assignments.map((a: any) => [a.role.name, a.user.name, a.scope.project.name]),
    [['member', 'alice', 'team']],
  )
  t.equal((await lab.req('GET', `${K}/role_assignments?user.id=${userId}`, admin)).body.role_assignments[0].role.id, member.id)

  // Non-admins: 403 with Keystone's body; a user may read itself.
  t.same(
    (await lab.req('POST', `${K}/projects`, { body: { project: { name: 'mine' } } })).body,
    kerr(403, 'Forbidden', 'You are not authorized to perform the requested action: identity:create_project.'),
  )
  t.equal((await lab.req('GET', `${K}/users`)).status, 403)
  t.equal((await lab.req('PUT', grant, {})).status, 403)
  t.equal((await lab.req('GET', `${K}/users/${userId}`, { token: aliceToken })).status, 200, 'a user reads itself')
  t.equal((await lab.req('GET', `${K}/users`, { token: null })).status, 401)

  // Password change revokes the user's tokens.
  const set = await lab.req('PATCH', `${K}/users/${userId}`, { ...admin, body: { user: { password: 'new-pw-1' } } })
  t.equal(set.status, 200)
  t.equal((await lab.req('GET', `/v1.0/${projectId}/instances`, { token: aliceToken })).status, 401, 'old token revoked')
  t.equal((await login('s3cret-pw')).status, 401, 'old password refused')
  t.equal((await login('new-pw-1')).status, 201, 'new password works')

  // Revoking the role.
  t.equal((await lab.req('DELETE', grant, admin)).status, 204)
  t.same(
    (await lab.req('DELETE', grant, admin)).body,
    kerr(404, 'Not Found', `Could not find role assignment with role: ${member.id}, user or group: ${userId}, project, domain, or system: ${projectId}.`),
  )
  t.equal((await login('new-pw-1')).status, 401, 'no role, no token')

  // Lists and deletes.
  t.same(
    (await lab.req('GET', `${K}/users?name=alice`, admin)).body.users.map((x: any) => x.id),
    [userId],
  )
  t.equal((await lab.req('DELETE', `${K}/users/${userId}`, admin)).status, 204)
  t.same((await lab.req('GET', `${K}/users/${userId}`, admin)).body, kerr(404, 'Not Found', `Could not find user: ${userId}.`))
  t.equal((await lab.req('DELETE', `${K}/projects/${projectId}`, admin)).status, 204)
  t.same((await lab.req('GET', `${K}/projects?name=team`, admin)).body.projects, [])

  // A project with live instances is not deleted (a lab rule; Keystone would orphan them).
  await lab.req('POST', `/v1.0/${lab.demo.project}/instances`, { body: { instance: { name: 'keep', flavorRef: '1', volume: { size: 1 }, datastore: { type: 'postgresql' } } } })
  t.match((await lab.req('DELETE', `${K}/projects/${lab.demo.project}`, admin)).body, {
    error: { code: 409, title: 'Conflict', message: 'Project demo still has 1 database instance(s); delete them first.' },
  })
})
