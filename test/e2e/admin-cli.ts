import t from 'tap'
import Database from 'better-sqlite3'
import { join } from 'node:path'
import { labClient, pollInstance, runCli, startServerProcess, tempDir } from '../helpers/lab.js'
import { openstackSession } from '../helpers/openstack-session.js'
import { detectEngines } from '../../src/server/compute/engines.js'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

const redis = (await detectEngines()).find((e) => e.manager === 'redis')

t.test('the real openstack CLI: datastore versions as admin, restart of a real Redis instance', { skip: redis ? false : 'redis-server is not installed' }, async (t) => {
  if (!redis) return
  const dir = tempDir(t, 'ta')
  const dataDir = join(dir, 'lab')
  const server = await startServerProcess(t, dataDir)
  const env = { ...server.env, HOME: dir }
  // The member's and the admin's commands each in one python process (about 1 s of CPU saved per command).
  const member = openstackSession(t, env)
  const openstack = (...args: string[]) => member.run(args)
  const admin = openstackSession(t, { ...env, OS_CLOUD: 'trove-lab-admin' })
  const asAdmin = (...args: string[]) => admin.run(args)

  const versions = JSON.parse(await asAdmin('datastore', 'version', 'list', 'redis', '-f', 'json')) as Array<{ ID: string; Name: string; Version: string }>
  const installed = versions.find((v) => v.Name === redis.name)
  t.ok(installed, `datastore version list shows redis ${redis.name}`)
  t.equal(installed?.Version, redis.version)
  const shown = JSON.parse(await asAdmin('datastore', 'version', 'show', installed!.ID, '-f', 'json')) as Record<string, unknown>
  t.match(shown, { id: installed!.ID, name: redis.name, version: redis.version, active: true }, 'show by id, with the admin fields')
  const byName = JSON.parse(await asAdmin('datastore', 'version', 'show', redis.name, '--datastore', 'redis', '-f', 'json')) as Record<string, unknown>
  t.equal(byName.id, installed!.ID, 'show by name within the datastore')

  // create / set / delete go through the mgmt routes.
  await asAdmin('datastore', 'version', 'create', 'e2e-redis', 'redis', 'redis', '', '--image-tags', 'lab,redis', '--version-number', redis.version)
  const all = JSON.parse(await asAdmin('datastore', 'version', 'list', 'redis', '-f', 'json')) as Array<{ ID: string; Name: string }>
  const mine = all.find((v) => v.Name === 'e2e-redis')!
  t.ok(mine, 'created (inactive: no --active)')
  t.match(JSON.parse(await asAdmin('datastore', 'version', 'show', mine.ID, '-f', 'json')), { active: false, image_tags: ['lab', 'redis'] })
  t.notOk(
    (JSON.parse(await openstack('datastore', 'version', 'list', 'redis', '-f', 'json')) as Array<{ Name: string }>).some((v) => v.Name === 'e2e-redis'),
    'members do not see an inactive version',
  )
  await asAdmin('datastore', 'version', 'set', mine.ID, '--enable')
  t.match(JSON.parse(await asAdmin('datastore', 'version', 'show', mine.ID, '-f', 'json')), { active: true }, 'enabled: the installed engine runs it')
  await asAdmin('datastore', 'version', 'delete', mine.ID)
  t.notOk(
    (JSON.parse(await asAdmin('datastore', 'version', 'list', 'redis', '-f', 'json')) as Array<{ Name: string }>).some((v) => v.Name === 'e2e-redis'),
    'deleted',
  )

  const created = await runCli(['instance', 'create', 'e2e-restart', '--flavor', 'm1.tiny', '--size', '1', '--datastore', 'redis', '--wait', '--timeout', '120', '-f', 'json'], server.env)
  t.equal(created.code, 0, `create --wait (${created.stderr.trim().split('\n').pop()})`)
  const id = (JSON.parse(created.stdout) as { id: string }).id
  const db = new Database(join(dataDir, 'trove.db'), { readonly: true })
  t.teardown(() => db.close())
  const enginePid = () => db.prepare('SELECT engine_pid FROM service_statuses WHERE instance_id = ?').pluck().get(id) as number | null
  const before = enginePid()
  t.ok(before, 'the engine reported its pid')

  await openstack('database', 'instance', 'restart', 'e2e-restart')
  let state = ''
  const start = Date.now()
  // Polled in this process (SDK): the subject here is the openstack client's restart.
  const sdk = labClient(server.cloudsFile)
  while (Date.now() - start < 60_000) {
    const show = await sdk.instances.get(id)
    state = `${show.status}/${show.operating_status}`
    const task = db.prepare("SELECT state FROM tasks WHERE instance_id = ? AND kind = 'restart_instance'").pluck().get(id)
    if (task === 'done' && state === 'ACTIVE/HEALTHY' && enginePid() !== before) break
    await sleep(250)
  }
  t.equal(state, 'ACTIVE/HEALTHY', 'ACTIVE and HEALTHY after the restart')
  t.equal(db.prepare("SELECT state FROM tasks WHERE instance_id = ? AND kind = 'restart_instance'").pluck().get(id), 'done', 'the restart task finished')
  t.not(enginePid(), before, 'a new engine process: the database really restarted')

  // The admin's list of every project, and a reboot (a new agent and engine), through the mgmt routes.
  const everyone = JSON.parse(await asAdmin('database', 'instance', 'list', '--all-projects', '-f', 'json')) as Array<Record<string, string>>
  t.match(
    everyone.find((i) => i.ID === id),
    { Name: 'e2e-restart', Status: 'ACTIVE', 'Server ID': id, 'Tenant ID': String },
    'database instance list --all-projects',
  )
  const agentPid = () => db.prepare('SELECT agent_pid FROM service_statuses WHERE instance_id = ?').pluck().get(id) as number | null
  const agentBefore = agentPid()
  const engineBefore = enginePid()
  await asAdmin('database', 'instance', 'reboot', id)
  const rebootStart = Date.now()
  while (Date.now() - rebootStart < 60_000) {
    const task = db.prepare("SELECT state FROM tasks WHERE instance_id = ? AND kind = 'reboot_instance'").pluck().get(id)
    if (task === 'done' || task === 'failed') break
    await sleep(250)
  }
  t.equal(db.prepare("SELECT state FROM tasks WHERE instance_id = ? AND kind = 'reboot_instance'").pluck().get(id), 'done', 'the reboot finished')
  const rebooted = JSON.parse((await runCli(['instance', 'show', id, '-f', 'json'], server.env)).stdout) as { status: string; operating_status: string }
  t.equal(`${rebooted.status}/${rebooted.operating_status}`, 'ACTIVE/HEALTHY', 'ACTIVE and HEALTHY after the reboot')
  t.not(agentPid(), agentBefore, 'a new agent process')
  t.not(enginePid(), engineBefore, 'and a new engine process')

  await openstack('database', 'instance', 'delete', 'e2e-restart')
  await pollInstance(server.cloudsFile, id, (i) => i === undefined, 120_000)
  t.same(JSON.parse((await runCli(['instance', 'list', '-f', 'json'], server.env)).stdout), [], 'deleted')
  t.equal(await server.stop(), 0)
})
