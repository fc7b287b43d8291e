import t from 'tap'
import { execFile } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { labEnv, runCli, startServerProcess, tempDir } from '../helpers/lab.js'
import { hasOpenstackClient, openstackSession } from '../helpers/openstack-session.js'

const exec = promisify(execFile)
const hasOpenstack = hasOpenstackClient()

// One lab for the first two tests (a server's first start costs ~3 s of CPU): they run one after
// the other, each with its own project, user or token. The password guessing has a lab of its
// own: it counts the failed logins of this address, and the first test makes one.
const labDir = tempDir(t, 'ti')
const shared = hasOpenstack ? await startServerProcess(t, join(labDir, 'lab')) : undefined

t.test('the real openstack CLI as admin makes a project and a user; the new user lists instances', { skip: hasOpenstack ? false : 'the openstack client is not installed' }, async (t) => {
  const dir = tempDir(t, 'ti')
  const server = shared!
  const run = async (env: Record<string, string>, args: string[]) => {
    try {
      return (await exec('openstack', args, { env: { ...env, HOME: dir }, timeout: 60_000 })).stdout
    } catch (e) {
      throw new Error(`openstack ${args.join(' ')} failed: ${(e as { stderr?: string }).stderr ?? (e as Error).message}`)
    }
  }
  // The admin's commands in one python process (its credentials never change here).
  const admin = openstackSession(t, { ...labEnv(server.cloudsFile, 'trove-lab-admin'), HOME: dir })
  const asAdmin = (...args: string[]) => admin.run(args)

  const project = JSON.parse(await asAdmin('project', 'create', 'e2e-team', '--description', 'made by openstack', '-f', 'json')) as Record<string, unknown>
  t.match(project, { name: 'e2e-team', description: 'made by openstack', domain_id: 'default', enabled: true })
  const user = JSON.parse(await asAdmin('user', 'create', 'e2e-user', '--project', 'e2e-team', '--password', 'e2e-pass-1', '-f', 'json')) as Record<string, unknown>
  t.match(user, { name: 'e2e-user', default_project_id: project.id, enabled: true })
  await asAdmin('role', 'add', '--project', 'e2e-team', '--user', 'e2e-user', 'member')
  const assignments = JSON.parse(await asAdmin('role', 'assignment', 'list', '--project', 'e2e-team', '--names', '-f', 'json')) as Array<Record<string, string>>
  t.same(
    assignments.map((a) => [a.Role, a.User, a.Project]),
    [['member', 'e2e-user@Default', 'e2e-team@Default']],
    'role assignment list --project --names',
  )
  t.ok(
    (JSON.parse(await asAdmin('project', 'list', '-f', 'json')) as Array<{ Name: string }>).some((p) => p.Name === 'e2e-team'),
    'project list',
  )
  t.equal((JSON.parse(await asAdmin('user', 'show', 'e2e-user', '-f', 'json')) as { id: string }).id, user.id, 'user show by name')
  t.ok(
    (JSON.parse(await asAdmin('role', 'list', '-f', 'json')) as Array<{ Name: string }>).some((r) => r.Name === 'member'),
    'role list',
  )

  // The new user's own clouds.yaml.
  const clouds = join(dir, 'e2e-clouds.yaml')
  const write = (password: string) =>
    writeFileSync(
      clouds,
      [
        'clouds:',
        '  e2e:',
        '    auth:',
        `      auth_url: ${server.url}/identity/v3`,
        '      username: e2e-user',
        `      password: ${password}`,
        '      project_name: e2e-team',
        '      user_domain_name: Default',
        '      project_domain_name: Default',
        '    region_name: RegionOne',
        '    interface: public',
        '    identity_api_version: 3',
        '',
      ].join('\n'),
      { mode: 0o600 },
    )
  write('e2e-pass-1')
  const mine = labEnv(clouds, 'e2e')
  const ours = await runCli(['instance', 'list', '-f', 'json'], mine)
  t.same([ours.code, JSON.parse(ours.stdout)], [0, []], `trove instance list as the new user (${ours.stderr.trim()})`)
  t.same(JSON.parse(await run(mine, ['database', 'instance', 'list', '-f', 'json'])), [], 'openstack database instance list as the new user')
  await t.rejects(run(mine, ['project', 'create', 'not-mine']), /You are not authorized to perform the requested action: identity:create_project\. \(HTTP 403\)/, 'a member is no admin')

  // Password change: the old one stops working.
  await asAdmin('user', 'set', '--password', 'e2e-pass-2', 'e2e-user')
  t.match((await runCli(['instance', 'list'], mine)).code, 4, 'old password: authentication failure')
  write('e2e-pass-2')
  t.equal((await runCli(['instance', 'list'], mine)).code, 0, 'new password works')

  await asAdmin('role', 'remove', '--project', 'e2e-team', '--user', 'e2e-user', 'member')
  await asAdmin('user', 'delete', 'e2e-user')
  await asAdmin('project', 'delete', 'e2e-team')
  t.notOk(
    (JSON.parse(await asAdmin('project', 'list', '-f', 'json')) as Array<{ Name: string }>).some((p) => p.Name === 'e2e-team'),
    'deleted',
  )
})

t.test('openstack token revoke: the token stops working at once', { skip: hasOpenstack ? false : 'the openstack client is not installed' }, async (t) => {
  const dir = tempDir(t, 'tr')
  const server = shared!
  const run = async (env: Record<string, string>, args: string[]): Promise<{ code: number; out: string }> => {
    try {
      const r = await exec('openstack', args, { env: { ...env, HOME: dir }, timeout: 60_000 })
      return { code: 0, out: r.stdout }
    } catch (e) {
      const err = e as { code?: number; stdout?: string; stderr?: string }
      return { code: typeof err.code === 'number' ? err.code : -1, out: `${err.stdout ?? ''}${err.stderr ?? ''}` }
    }
  }
  const demo = labEnv(server.cloudsFile, 'trove-lab')
  const issued = await run(demo, ['token', 'issue', '-f', 'json'])
  t.equal(issued.code, 0, `token issue${issued.code ? ` (${issued.out.trim()})` : ''}`)
  const { id: token, project_id: project } = JSON.parse(issued.out) as { id: string; project_id: string }
  // The token alone, as a client that holds only it.
  const bearer = { PATH: process.env.PATH ?? '/usr/bin:/bin', OS_AUTH_TYPE: 'token', OS_TOKEN: token, OS_AUTH_URL: `${server.url}/identity/v3`, OS_PROJECT_ID: project, OS_REGION_NAME: 'RegionOne' }
  const before = await run(bearer, ['database', 'instance', 'list', '-f', 'json'])
  t.same([before.code, before.out.trim()], [0, '[]'], 'the token works before the revoke')

  const revoked = await run(demo, ['token', 'revoke', token])
  t.equal(revoked.code, 0, `openstack token revoke (${revoked.out.trim()})`)
  const after = await run(bearer, ['database', 'instance', 'list'])
  t.not(after.code, 0, 'the revoked token is refused')
  t.match(after.out, /HTTP 401|requires authentication/, `401 (${after.out.trim().split('\n').pop()})`)
  const again = await run(demo, ['token', 'revoke', token])
  t.not(again.code, 0, 'a second revoke fails')
  t.match(again.out, /Could not find token.*\(HTTP 404\)/, `404 (${again.out.trim().split('\n').pop()})`)
  t.equal((await run(demo, ['database', 'instance', 'list', '-f', 'json'])).code, 0, 'the user still logs in with the password')
})

t.test('password guessing through the real clients: 401 ten times, then 429 with Retry-After, one line each', { skip: hasOpenstack ? false : 'the openstack client is not installed' }, async (t) => {
  const dir = tempDir(t, 'tg')
  const server = await startServerProcess(t, join(dir, 'lab'))
  const wrong = { ...labEnv(server.cloudsFile, 'trove-lab'), OS_PASSWORD: 'not-the-password' }
  // Ten wrong passwords from this host (127.0.0.1) use up its failures for the minute.
  const first = await Promise.all(Array.from({ length: 10 }, () => runCli(['instance', 'list'], wrong)))
  t.same(
    first.map((r) => r.code),
    Array(10).fill(4),
    'ten authentication failures (exit 4)',
  )
  t.match(first[0].stderr, /HTTP 401/, `401: ${first[0].stderr.trim()}`)
  const ours = await runCli(['instance', 'list'], wrong)
  t.not(ours.code, 0)
  t.equal(ours.stderr.trim().split('\n').length, 1, 'one line')
  t.match(ours.stderr, /Too many failed logins from this address; retry in \d+ seconds\. \(HTTP 429\)/, `trove: ${ours.stderr.trim()}`)
  let theirs = ''
  try {
    await exec('openstack', ['token', 'issue'], { env: { ...wrong, HOME: dir }, timeout: 60_000 })
  } catch (e) {
    theirs = (e as { stderr?: string }).stderr ?? ''
  }
  t.match(theirs, /429|Too many failed logins/, `openstack: ${theirs.trim().split('\n').pop()}`)
  // The right password is still refused from this address until the window passes (it could be the guesser's).
  t.match((await runCli(['instance', 'list'], labEnv(server.cloudsFile, 'trove-lab'))).stderr, /HTTP 429/, 'the right password waits too')
})
