import t from 'tap'
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { readCloudPasswords } from '../../src/server/clouds.js'
import { startServerProcess, tempDir } from '../helpers/lab.js'
import { openstackSession } from '../helpers/openstack-session.js'
import { PYTHON_TROVE } from '../helpers/clients.js'

const exec = promisify(execFile)

/**
 * The openstack CLI has no module commands (cli.md 8: they exist only in the legacy
 * `trove` shell), so modules are driven with `trove module-*`; backup strategies and
 * clusters with `openstack database ...`.
 */
t.test('the real clients manage modules, backup strategies and list clusters', async (t) => {
  const dir = tempDir(t, 'tm')
  const server = await startServerProcess(t, join(dir, 'lab'))
  const run = async (cmd: string, args: string[], env: Record<string, string>) => {
    try {
      const r = await exec(cmd, args, { env, timeout: 120_000 })
      return { code: 0, stdout: r.stdout, stderr: r.stderr }
    } catch (e) {
      const err = e as { code?: number; stdout?: string; stderr?: string }
      return { code: err.code ?? -1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' }
    }
  }
  const osEnv = { ...server.env, HOME: dir }
  // The openstack commands that must succeed run in one python process (each start of the
  // client costs ~1 s of CPU); the two whose failure exit code is asserted, as processes.
  const session = openstackSession(t, osEnv)
  const os = (...args: string[]) => session.output(args)
  const osAlone = (...args: string[]) => run('openstack', args, osEnv)
  const osJson = async (...args: string[]) => {
    const r = await os(...args, '-f', 'json')
    t.equal(r.code, 0, `openstack ${args.join(' ')} (${r.stderr.trim()})`)
    return JSON.parse(r.stdout)
  }
  // The legacy shell reads no clouds.yaml: the same credentials through OS_* variables.
  const pw = readCloudPasswords(server.cloudsFile)!
  const troveEnv = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: dir,
    OS_AUTH_URL: `${server.url}/identity/v3`,
    OS_USERNAME: 'demo',
    OS_PASSWORD: pw.demo,
    OS_PROJECT_NAME: 'demo',
    OS_USER_DOMAIN_NAME: 'Default',
    OS_PROJECT_DOMAIN_NAME: 'Default',
    OS_REGION_NAME: 'RegionOne',
  }
  const trove = async (...args: string[]) => {
    const r = await run(PYTHON_TROVE, args, troveEnv)
    t.equal(r.code, 0, `trove ${args.join(' ')} (${r.stderr.trim()})`)
    return r.stdout
  }
  /** A legacy `trove` property table as an object. */
  const props = (out: string) =>
    Object.fromEntries(
      out
        .split('\n')
        .map((l) => /^\| (\S+)\s+\| (.*?)\s*\|$/.exec(l))
        .filter((m) => m && m[1] !== 'Property')
        .map((m) => [m![1], m![2]]),
    )

  const file = join(dir, 'module.dat')
  writeFileSync(file, 'ping contents\n')
  const created = props(await trove('module-create', 'mod-e2e', 'ping', file, '--description', 'e2e module'))
  t.match(created, { name: 'mod-e2e', type: 'ping', description: 'e2e module', datastore: 'all', datastore_version: 'all', visible: 'True', is_admin: 'False' })
  // The client sends the file base64-encoded; the md5 is of what it sent (upstream).
  t.equal(created.md5, createHash('md5').update(Buffer.from('ping contents\n').toString('base64')).digest('hex'))

  const list = await trove('module-list')
  t.match(list, /mod-e2e/)
  t.match(list, new RegExp(created.id))
  const shown = props(await trove('module-show', 'mod-e2e'))
  t.equal(shown.id, created.id, 'module-show finds the module by name')
  t.equal(shown.instance_count, '0')

  const updated = props(await trove('module-update', created.id, '--name', 'mod-renamed', '--description', 'changed', '--type', 'new_relic_license'))
  t.match(updated, { id: created.id, name: 'mod-renamed', description: 'changed', type: 'new_relic_license' })
  const refused = await run(PYTHON_TROVE, ['module-create', 'admin-only', 'ping', file, '--auto_apply'], troveEnv)
  t.equal(refused.code, 1)
  t.match(refused.stderr, /You must be admin to create a module with these options\. \(Auto: 1\)/)

  await trove('module-delete', 'mod-renamed')
  t.notMatch(await trove('module-list'), /mod-renamed/)

  const strategy = await osJson('database', 'backup', 'strategy', 'create', '--swift-container', 'e2e-container')
  t.same(strategy, { backend: 'swift', instance_id: '', project_id: strategy.project_id, swift_container: 'e2e-container' })
  t.same(await osJson('database', 'backup', 'strategy', 'list'), [{ 'Project ID': strategy.project_id, 'Instance ID': '', 'Swift Container': 'e2e-container' }])
  const del = await os('database', 'backup', 'strategy', 'delete')
  t.equal(del.code, 0, `backup strategy delete ${del.stderr}`)
  t.same(await osJson('database', 'backup', 'strategy', 'list'), [])
  const badInstance = await osAlone('database', 'backup', 'strategy', 'create', '--swift-container', 'c', '--instance-id', 'not-a-uuid')
  t.equal(badInstance.code, 1)
  t.match(badInstance.stderr, /Validation error: backup_strategy\['instance_id'\] 'not-a-uuid' does not match .* \(HTTP 400\)/)

  t.same(await osJson('database', 'cluster', 'list'), [])
  const show = await osAlone('database', 'cluster', 'show', 'nope')
  t.equal(show.code, 1)
  t.equal(show.stderr.trim(), "No cluster with a name or ID of 'nope' exists.")
})
