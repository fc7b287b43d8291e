// The contract with the real client: every `openstack database ...` / `openstack datastore ...`
// command of cli.md that needs no datastore operation of its own (no backups, replication,
// resize, clusters), driven by the Debian openstack CLI against a real lab with one real
// Redis instance, each result checked from `-f json`.
import t from 'tap'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { hasOpenstackClient, openstackSession } from '../helpers/openstack-session.js'
import { startLab } from '../helpers/lab.js'

const exec = promisify(execFile)
const hasOpenstack = hasOpenstackClient()
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
/** The client shows a configuration's values as a JSON string. */
const values = (v: unknown): unknown => (typeof v === 'string' ? JSON.parse(v) : v)

interface Run {
  code: number
  stdout: string
  stderr: string
}

t.test('openstack database/datastore commands against a real lab', { skip: hasOpenstack ? false : 'the openstack client is not installed' }, async (t) => {
  const lab = await startLab(t)
  const env = { ...lab.env, HOME: lab.dataDir }
  let calls = 0
  // Commands that must succeed run in one python process per user (cliff's interactive mode, about
  // 1 s of CPU saved per command; see the helper for what it cannot pass). Commands that must fail
  // run as processes of their own, so their exit code is the real one.
  const sessions = { member: openstackSession(t, env), admin: openstackSession(t, { ...env, OS_CLOUD: 'trove-lab-admin' }) }
  const run = (args: string[], admin = false): Promise<Run> => {
    calls++
    return (admin ? sessions.admin : sessions.member).output(args)
  }
  const spawnRun = async (args: string[], admin = false): Promise<Run> => {
    calls++
    try {
      const r = await exec('openstack', [...(admin ? ['--os-cloud', 'trove-lab-admin'] : []), ...args], { env, timeout: 120_000 })
      return { code: 0, stdout: r.stdout, stderr: r.stderr }
    } catch (e) {
      const err = e as { code?: number; stdout?: string; stderr?: string }
      return { code: typeof err.code === 'number' ? err.code : -1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' }
    }
  }
  /** A command that must succeed; its `-f json` output parsed (or the raw stdout for commands without output). */
  const ok = async (args: string[], o: { admin?: boolean; json?: boolean } = {}): Promise<any> => {
    const json = o.json ?? true
    const r = await run(json ? [...args, '-f', 'json'] : args, o.admin)
    t.equal(r.code, 0, `openstack ${args.join(' ')}${r.code ? ` (${r.stderr.trim().split('\n').pop()})` : ''}`)
    return json ? JSON.parse(r.stdout || 'null') : r.stdout
  }
  /** A command that must fail with this message. */
  const fails = async (args: string[], message: RegExp, admin = false) => {
    const r = await spawnRun(args, admin)
    t.not(r.code, 0, `openstack ${args.join(' ')} fails`)
    t.match(r.stdout + r.stderr, message, `openstack ${args.join(' ')}: ${message}`)
  }

  // The instance (redis: the fastest engine) builds while the catalog commands run.
  const [created, flavors, limits, datastores, versions, clusters, strategies, configs, noInstances, quota] = await Promise.all([
    ok(['database', 'instance', 'create', 'os-redis', '--flavor', 'm1.tiny', '--size', '1', '--datastore', 'redis']),
    ok(['database', 'flavor', 'list']),
    ok(['database', 'limit', 'list'], { json: false }),
    ok(['datastore', 'list']),
    ok(['datastore', 'version', 'list', 'redis']),
    ok(['database', 'cluster', 'list']),
    ok(['database', 'backup', 'strategy', 'list']),
    ok(['database', 'configuration', 'list']),
    ok(['database', 'instance', 'list']),
    ok(['database', 'quota', 'show', 'demo'], { admin: true }),
  ])
  t.match(created, { name: 'os-redis', datastore: 'redis', status: 'BUILD', flavor: '1', volume: 1 }, 'instance create')
  const id = created.id as string
  t.match(
    flavors.find((f: { Name: string }) => f.Name === 'm1.tiny'),
    { ID: '1', RAM: Number, vCPUs: Number },
    'flavor list: ID, Name, RAM, vCPUs, Disk, Ephemeral',
  )
  t.same(Object.keys(flavors[0]), ['ID', 'Name', 'RAM', 'vCPUs', 'Disk', 'Ephemeral'])
  t.match(limits, /max_instances/, 'limit list: the absolute limits table')
  t.match(limits, /Verb/, 'limit list: the rate limits')
  t.ok(
    ['mariadb', 'postgresql', 'redis'].every((n) => datastores.some((d: { Name: string }) => d.Name === n)),
    'datastore list',
  )
  t.same(Object.keys(datastores[0]), ['ID', 'Name'])
  t.ok(versions.length >= 1, 'datastore version list redis')
  const version = versions[0] as { ID: string; Name: string; Version: string }
  t.same([clusters, strategies, configs], [[], [], []], 'empty cluster, backup strategy and configuration lists')
  // Listed while the create runs: empty, or the new instance already.
  t.ok(
    noInstances.every((i: { Name: string }) => i.Name === 'os-redis'),
    'instance list before ACTIVE',
  )
  t.match(
    quota.find((q: { Resource: string }) => q.Resource === 'instances'),
    { 'In Use': Number, Reserved: 0, Limit: Number },
    'quota show',
  )

  // Catalog details, configuration groups, admin datastore versions, quotas, strategies, 501s.
  const [flavor, ds, dsv, params, param, cfg] = await Promise.all([
    ok(['database', 'flavor', 'show', 'm1.tiny']),
    ok(['datastore', 'show', 'redis']),
    ok(['datastore', 'version', 'show', version.ID]),
    ok(['database', 'configuration', 'parameter', 'list', version.Name, '--datastore', 'redis']),
    ok(['database', 'configuration', 'parameter', 'show', version.Name, 'maxmemory-policy', '--datastore', 'redis']),
    ok(['database', 'configuration', 'create', 'os-cfg', '{"maxmemory-policy": "allkeys-lru"}', '--datastore', 'redis', '--datastore-version', version.Name, '--description', 'contract']),
  ])
  t.match(flavor, { id: '1', name: 'm1.tiny', ram: Number, vcpus: Number }, 'flavor show')
  t.notOk('links' in flavor)
  t.match(ds, { name: 'redis', id: String }, 'datastore show')
  t.match(dsv, { id: version.ID, name: version.Name, datastore: ds.id }, 'datastore version show')
  t.ok(
    params.some((p: { Name: string }) => p.Name === 'maxmemory'),
    'configuration parameter list',
  )
  t.same(Object.keys(params[0]), ['Name', 'Type', 'Min Size', 'Max Size', 'Restart Required'])
  t.match(param, { name: 'maxmemory-policy', type: 'string', restart_required: false }, 'configuration parameter show')
  t.match(cfg, { name: 'os-cfg', description: 'contract', datastore_name: 'redis' }, 'configuration create')
  t.same(values(cfg.values), { 'maxmemory-policy': 'allkeys-lru' }, 'configuration create: the values')

  await Promise.all([
    (async () => {
      await ok(['database', 'configuration', 'parameter', 'set', cfg.id, '{"timeout": 30}'], { json: false })
      t.same(values((await ok(['database', 'configuration', 'show', 'os-cfg'])).values), { 'maxmemory-policy': 'allkeys-lru', timeout: 30 }, 'configuration parameter set merges (PATCH)')
      await ok(['database', 'configuration', 'set', cfg.id, '{"maxmemory-policy": "noeviction"}', '--name', 'os-cfg'], { json: false })
      t.same(values((await ok(['database', 'configuration', 'show', cfg.id])).values), { 'maxmemory-policy': 'noeviction' }, 'configuration set replaces (PUT)')
      await fails(['database', 'configuration', 'create', 'bad', '{"maxmemory": "lots"}', '--datastore', 'redis', '--datastore-version', version.Name], /maxmemory/)
    })(),
    (async () => {
      await ok(['datastore', 'version', 'create', 'os-v1', 'os-throwaway', 'redis', '', '--image-tags', 'lab', '--version-number', version.Version], { admin: true, json: false })
      const mine = (await ok(['datastore', 'version', 'list', 'os-throwaway'], { admin: true })) as Array<{ ID: string; Name: string }>
      t.match(mine, [{ Name: 'os-v1' }], 'datastore version create (the datastore is made with it)')
      await ok(['datastore', 'version', 'set', mine[0]!.ID, '--enable', '--image-tags', 'a,b'], { admin: true, json: false })
      t.match(await ok(['datastore', 'version', 'show', mine[0]!.ID], { admin: true }), { active: true, image_tags: ['a', 'b'] }, 'datastore version set')
      await fails(['datastore', 'version', 'create', 'x', 'y', 'redis', ''], /admin/i)
      await ok(['datastore', 'version', 'delete', mine[0]!.ID], { admin: true, json: false })
      await ok(['datastore', 'delete', 'os-throwaway'], { admin: true, json: false })
      t.notOk(
        (await ok(['datastore', 'list'])).some((d: { Name: string }) => d.Name === 'os-throwaway'),
        'datastore delete',
      )
    })(),
    (async () => {
      t.same(await ok(['database', 'quota', 'update', 'demo', 'instances', '20'], { admin: true }), { instances: 20 }, 'quota update')
      await fails(['database', 'quota', 'update', 'demo', 'instances', '30'], /admin|unauthorized|401/i)
    })(),
    (async () => {
      const s = await ok(['database', 'backup', 'strategy', 'create', '--swift-container', 'os-backups'])
      t.match(s, { swift_container: 'os-backups', project_id: String }, 'backup strategy create')
      t.match(await ok(['database', 'backup', 'strategy', 'list']), [{ 'Swift Container': 'os-backups' }])
      await ok(['database', 'backup', 'strategy', 'delete'], { json: false })
      t.same(await ok(['database', 'backup', 'strategy', 'list']), [], 'backup strategy delete')
    })(),
    fails(['database', 'cluster', 'create', 'c1', 'redis', version.Name, '--instance', 'flavor=1,volume=1'], /not supported|501|Not Implemented/i),
    fails(['database', 'cluster', 'show', 'nope'], /No cluster with a name or ID of 'nope' exists|not found|404/i),
  ])

  // The instance, once ACTIVE: show/list, configuration attach/default/instances/detach, root, db and user.
  let shown: any
  for (let i = 0; i < 240; i++) {
    shown = JSON.parse((await run(['database', 'instance', 'show', id, '-f', 'json'])).stdout || '{}')
    if (shown.status !== 'BUILD') break
    await sleep(500)
  }
  t.match(shown, { id, name: 'os-redis', status: 'ACTIVE', operating_status: 'HEALTHY', datastore: 'redis', datastore_version: version.Name }, 'instance show: ACTIVE')
  // The list before the attach: run side by side, a busy machine let the attach finish first (RESTART_REQUIRED).
  const list = await ok(['database', 'instance', 'list'])
  await ok(['database', 'configuration', 'attach', 'os-redis', 'os-cfg'], { json: false })
  t.match(list, [{ ID: id, Name: 'os-redis', Datastore: 'redis', Status: 'ACTIVE', 'Flavor ID': '1', Size: 1 }], 'instance list')
  const [instances, defaults, root, , , logs, redisLog] = await Promise.all([
    ok(['database', 'configuration', 'instances', 'os-cfg']),
    ok(['database', 'configuration', 'default', 'os-redis']),
    ok(['database', 'root', 'show', 'os-redis']),
    fails(['database', 'db', 'list', 'os-redis'], /Operation not supported for datastore redis/),
    fails(['database', 'user', 'list', 'os-redis'], /Operation not supported for datastore redis/),
    // Guest logs: Redis exposes none to members; an admin publishes the server log (tail/save need Swift).
    ok(['database', 'log', 'list', 'os-redis']),
    ok(['database', 'log', 'set', id, 'redis', '--publish'], { admin: true }),
  ])
  t.same(logs, [], 'log list: nothing exposed to a member')
  t.match(redisLog, { name: 'redis', type: 'SYS', status: 'Published', container: 'database_logs', prefix: `${id}/redis-redis/`, metafile: `${id}/redis-redis_metafile` }, 'log set --publish (admin)')
  t.same(instances, [{ ID: id, Name: 'os-redis' }], 'configuration instances after attach')
  t.ok(Object.keys(defaults).length > 3, "configuration default: the instance's values")
  t.same(root, { is_root_enabled: false }, 'root show')
  await ok(['database', 'configuration', 'detach', 'os-redis'], { json: false })
  t.same(await ok(['database', 'configuration', 'instances', 'os-cfg']), [], 'configuration detach')
  await ok(['database', 'configuration', 'delete', 'os-cfg'], { json: false })
  await fails(['database', 'configuration', 'show', 'os-cfg'], /No configuration with a name or ID of 'os-cfg' exists/)

  await ok(['database', 'instance', 'delete', 'os-redis'], { json: false })
  let left: unknown[] = ['?']
  for (let i = 0; i < 240 && left.length; i++) {
    left = JSON.parse((await run(['database', 'instance', 'list', '-f', 'json'])).stdout || '["?"]') as unknown[]
    if (left.length) await sleep(500)
  }
  t.same(left, [], 'instance delete')
  t.comment(`${calls} openstack calls`)
})
