import t from 'tap'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { runMain, startLab, labEnv } from '../helpers/lab.js'

t.test('trove admin: projects, users, roles through the Keystone routes', async (t) => {
  const lab = await startLab(t, { spawnAgents: false, rateLimits: [] })
  const admin = labEnv(lab.cloudsFile, 'trove-lab-admin')

  const created = await runMain(['admin', 'project', 'create', 'team-a', '--description', 'Team A', '-f', 'json'], admin)
  t.equal(created.code, 0, created.stderr)
  const project = JSON.parse(created.stdout) as Record<string, unknown>
  t.match(project, { name: 'team-a', description: 'Team A', domain_id: 'default', enabled: true, id: /^[0-9a-f]{32}$/ })
  t.notOk('links' in project)
  const dup = await runMain(['admin', 'project', 'create', 'team-a'], admin)
  t.equal(dup.code, 1)
  t.match(dup.stderr, /^Conflict occurred attempting to store project - Duplicate entry found with name team-a at domain ID default\. \(HTTP 409\)/)

  const list = await runMain(['admin', 'project', 'list', '-f', 'value', '-c', 'Name'], admin)
  t.equal(list.stdout, 'admin\ndemo\nteam-a\n')

  const both = await runMain(['admin', 'user', 'create', 'x', '--password', 'a', '--random-password'], admin)
  t.same([both.code, both.stderr], [2, '--password and --random-password cannot be used together\n'])

  const user = await runMain(['admin', 'user', 'create', 'alice', '--project', 'team-a', '--random-password', '-f', 'json'], admin)
  t.equal(user.code, 0, user.stderr)
  const alice = JSON.parse(user.stdout) as Record<string, string>
  t.match(alice, { name: 'alice', default_project_id: project.id, password: /^[A-Za-z0-9_-]{24}$/ }, 'the generated password is printed once')
  const bob = await runMain(['admin', 'user', 'create', 'bob', '--project', 'team-a', '--password', 'bobs-pw', '-f', 'json'], admin)
  t.notOk('password' in JSON.parse(bob.stdout), 'a given password is not echoed')
  t.equal((await runMain(['admin', 'user', 'list', '-f', 'value', '-c', 'Name'], admin)).stdout, 'admin\nalice\nbob\ndemo\n')

  const missing = await runMain(['admin', 'role', 'add', 'member', '--user', 'alice'], admin)
  t.same([missing.code, missing.stderr], [2, '--project is required\n'])
  const noRole = await runMain(['admin', 'role', 'add', 'boss', '--project', 'team-a', '--user', 'alice'], admin)
  t.same([noRole.code, noRole.stderr], [1, "No role with a name or ID of 'boss' exists.\n"])
  const added = await runMain(['admin', 'role', 'add', 'member', '--project', 'team-a', '--user', 'alice'], admin)
  t.same([added.code, added.stdout, added.stderr], [0, '', ''])

  // alice, with the printed password, uses the database API of team-a.
  const clouds = join(lab.dataDir, 'alice-clouds.yaml')
  const authUrl = `${lab.url}/identity/v3`
  writeFileSync(
    clouds,
    `clouds:\n  alice:\n    auth:\n      auth_url: ${authUrl}\n      username: alice\n      password: ${alice.password}\n      project_name: team-a\n      user_domain_name: Default\n      project_domain_name: Default\n    region_name: RegionOne\n`,
    { mode: 0o600 },
  )
  const asAlice = await runMain(['instance', 'list'], labEnv(clouds, 'alice'))
  t.same([asAlice.code, asAlice.stdout], [0, '\n'], 'the new user lists (no) instances')

  const denied = await runMain(['admin', 'user', 'list'], lab.env)
  t.equal(denied.code, 1)
  t.match(denied.stderr, /^You are not authorized to perform the requested action: identity:list_users\. \(HTTP 403\)/, 'members are refused')
})
