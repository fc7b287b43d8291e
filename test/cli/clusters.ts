import t from 'tap'
import { runMain, startLab } from '../helpers/lab.js'
import { fakeTrove, fault } from '../helpers/fake-trove.js'

const CID = '11111111-2222-3333-4444-555555555555'
const M1 = 'aaaaaaaa-0000-0000-0000-000000000001'
const M2 = 'aaaaaaaa-0000-0000-0000-000000000002'
const cluster = {
  id: CID,
  name: 'c1',
  datastore: { type: 'mongodb', version: '4.0' },
  task: { id: 1, name: 'NONE', description: 'No tasks for the cluster.' },
  created: '2026-01-01T00:00:00',
  updated: '2026-01-01T00:00:01',
  links: [],
  ip: ['10.0.0.2', { address: '10.0.0.3' }],
  instances: [
    { id: M1, name: 'c1-member-1', flavor: { id: '2' }, volume: { size: 2 }, status: 'ACTIVE' },
    { id: M2, name: 'c1-member-2', flavor: { id: '2' }, status: 'ACTIVE' },
  ],
}

t.test('cluster commands build the real Trove requests', async (t) => {
  const api = await fakeTrove(t, (s) => {
    if (s.method === 'GET' && s.url === `/clusters/${CID}`) return { body: { cluster } }
    if (s.method === 'GET' && s.url === '/clusters/c1') return fault(404, 'itemNotFound', 'not found')
    if (s.method === 'GET' && s.url.startsWith('/clusters')) return { body: { clusters: [cluster] } }
    if (s.method === 'GET' && s.url === '/flavors/m1.small') return fault(404, 'itemNotFound', 'no')
    if (s.method === 'GET' && s.url === '/flavors') return { body: { flavors: [{ id: 2, str_id: '2', name: 'm1.small', ram: 1024, vcpus: 1, disk: 10, ephemeral: 0 }] } }
    if (s.method === 'GET' && s.url.startsWith('/flavors/')) return { body: { flavor: { id: 2, str_id: '2', name: 'm1.small', ram: 1024, vcpus: 1, disk: 10, ephemeral: 0 } } }
    if (s.method === 'POST' && s.url === '/clusters') return { body: { cluster } }
    if (s.method === 'GET' && /^\/instances\/[^/]+\/modules$/.test(s.url)) return { body: { modules: [{ name: 'm', type: 'ping', md5: 'abc', created: 'c', updated: 'u' }] } }
    if (s.method === 'GET' && s.url === '/instances/c1-member-2') return fault(404, 'itemNotFound', 'no')
    if (s.method === 'GET' && s.url.startsWith('/instances?')) return { body: { instances: [{ id: M2, name: 'c1-member-2', flavor: { id: '2' }, status: 'ACTIVE' }] } }
    if (s.method === 'GET' && s.url === `/instances/${M2}`) return { body: { instance: { id: M2, name: 'c1-member-2', flavor: { id: '2' }, status: 'ACTIVE' } } }
    if (s.method === 'POST' || s.method === 'DELETE') return { status: 202 }
    return fault(404, 'itemNotFound', `unexpected ${s.method} ${s.url}`)
  })
  const run = async (...args: string[]) => {
    api.seen.length = 0
    return runMain(args, api.env)
  }
  const mutations = () => api.seen.filter((s) => s.method !== 'GET').map((s) => [s.method, s.url, s.body])

  const show = await run('cluster', 'show', 'c1', '-f', 'json')
  t.equal(show.code, 0, show.stderr)
  t.same(
    JSON.parse(show.stdout),
    {
      created: '2026-01-01T00:00:00',
      datastore: 'mongodb',
      datastore_version: '4.0',
      id: CID,
      instance_count: 2,
      ip: '10.0.0.2, 10.0.0.3',
      name: 'c1',
      task_description: 'No tasks for the cluster.',
      task_name: 'NONE',
      updated: '2026-01-01T00:00:01',
    },
    'show fields as the openstack client flattens them',
  )
  t.same(
    api.seen.map((s) => s.url),
    ['/clusters/c1', '/clusters', `/clusters/${CID}`],
    'algorithm A: GET by name, list, GET by id',
  )

  const create = await run(
    'cluster',
    'create',
    'c1',
    'mongodb',
    '4.0',
    '--instance',
    "flavor=m1.small,volume=2,nic='net-id=n1,v4-fixed-ip=10.0.0.9',availability_zone=az1,type=shard,type=member",
    '--instance',
    'flavor=2,volume=2,volume_type=ssd',
    '--locality',
    'anti-affinity',
    '--extended-properties',
    'num_mongos=1',
    '--configuration',
    'cfg1',
  )
  t.equal(create.code, 0, create.stderr)
  t.same(mutations(), [
    [
      'POST',
      '/clusters',
      {
        cluster: {
          name: 'c1',
          datastore: { type: 'mongodb', version: '4.0' },
          instances: [
            { flavorRef: '2', volume: { size: '2' }, nics: [{ network_id: 'n1', 'v4-fixed-ip': '10.0.0.9' }], availability_zone: 'az1', type: ['shard', 'member'] },
            { flavorRef: '2', volume: { size: '2', type: 'ssd' } },
          ],
          locality: 'anti-affinity',
          extended_properties: { num_mongos: '1' },
          configuration: 'cfg1',
        },
      },
    ],
  ])
  t.same([(await run('cluster', 'create', 'c1', 'mongodb', '4.0')).stderr], ['Missing argument(s): instance\n'])
  const bad = await run('cluster', 'create', 'c1', 'mongodb', '4.0', '--instance', 'flavor=2,volume=1,colour=red')
  t.same([bad.code, bad.stderr], [1, "Unknown option(s) 'colour=red' specified for instance\n"])

  t.equal((await run('cluster', 'delete', 'c1')).code, 0)
  t.same(mutations(), [['DELETE', `/clusters/${CID}`, undefined]])
  t.equal((await run('cluster', 'force', 'delete', 'c1', '--yes')).code, 0)
  t.same(mutations(), [
    ['POST', `/clusters/${CID}`, { 'reset-status': {} }],
    ['DELETE', `/clusters/${CID}`, undefined],
  ])
  t.equal((await run('cluster', 'reset', 'status', 'c1')).code, 0)
  t.same(mutations(), [['POST', `/clusters/${CID}`, { 'reset-status': {} }]])
  t.equal((await run('cluster', 'grow', 'c1', '--instance', 'flavor=2,volume=3,name=c1-3,related_to=x,type=member')).code, 0)
  t.same(mutations(), [['POST', `/clusters/${CID}`, { grow: [{ flavorRef: '2', volume: { size: '3' }, type: ['member'], name: 'c1-3', related_to: 'x' }] }]])
  t.equal((await run('cluster', 'shrink', 'c1', 'c1-member-2')).code, 0)
  t.same(mutations(), [['POST', `/clusters/${CID}`, { shrink: [{ id: M2 }] }]])
  t.equal((await run('cluster', 'upgrade', 'c1', '4.2')).code, 0)
  t.same(mutations(), [['POST', `/clusters/${CID}`, { upgrade: { datastore_version: '4.2' } }]])

  const inst = await run('cluster', 'list', 'instances', 'c1', '-f', 'csv')
  t.equal(inst.stdout, `"ID","Name","Flavor ID","Size","Status"\n"${M1}","c1-member-1","2",2,"ACTIVE"\n"${M2}","c1-member-2","2","","ACTIVE"\n`)
  const mods = await run('cluster', 'modules', 'c1', '-f', 'value')
  t.equal(mods.stdout, 'c1-member-1 m ping abc c u\nc1-member-2 m ping abc c u\n')
  t.same(
    api.seen.filter((s) => s.url.includes('/modules')).map((s) => s.url),
    [`/instances/${M1}/modules`, `/instances/${M2}/modules`],
  )

  const legacy = await run('cluster-instances', 'c1', '-f', 'value', '-c', 'Name')
  t.equal(legacy.stdout, 'c1-member-1\nc1-member-2\n', 'legacy cluster-instances')
})

t.test('the lab answers clusters with one clear line, exit 1', async (t) => {
  const lab = await startLab(t)
  const show = await runMain(['cluster', 'show', 'c9'], lab.env)
  t.same([show.code, show.stderr], [1, "No cluster with a name or ID of 'c9' exists.\n"])
  const create = await runMain(['cluster', 'create', 'c1', 'postgresql', '15', '--instance', 'flavor=1,volume=1'], lab.env)
  t.equal(create.code, 1)
  t.match(create.stderr, /^Clusters are not supported for datastore postgresql\. \(HTTP 501\) \(Request-ID: req-[0-9a-f-]+\)\n$/)
  const del = await runMain(['cluster', 'delete', '11111111-2222-3333-4444-555555555555'], lab.env)
  t.equal(del.code, 1)
  t.match(del.stderr, /^Failed to delete cluster 11111111-2222-3333-4444-555555555555: No cluster with a name or ID of '11111111-2222-3333-4444-555555555555' exists\.\n$/)
  for (const args of [
    ['cluster', 'grow', 'x', '--instance', 'flavor=1,volume=1'],
    ['cluster', 'shrink', 'x', 'y'],
    ['cluster', 'upgrade', 'x', '16'],
    ['cluster', 'reset', 'status', 'x'],
    ['cluster', 'modules', 'x'],
    ['cluster', 'list', 'instances', 'x'],
    ['cluster', 'force', 'delete', 'x', '-y'],
  ]) {
    const r = await runMain(args, lab.env)
    t.same([r.code, r.stderr, r.stdout], [1, "No cluster with a name or ID of 'x' exists.\n", ''], args.join(' '))
  }
})

t.test('datastore delete (admin) against the lab', async (t) => {
  const lab = await startLab(t)
  const admin = { ...lab.env, OS_CLOUD: 'trove-lab-admin' }
  const missing = await runMain(['datastore', 'delete', 'nosql'], admin)
  t.equal(missing.code, 1)
  t.match(missing.stderr, /^Failed to delete datastore nosql: Datastore 'nosql' cannot be found\. \(HTTP 404\)/)
  const member = await runMain(['datastore', 'delete', 'redis'], lab.env)
  t.equal(member.code, 1, 'a member may not delete datastores')
  t.match(member.stderr, /^Failed to delete datastore redis: .*\(HTTP 403\)/)
  const refused = await runMain(['datastore', 'delete', 'redis', '--yes'], admin)
  t.match([refused.code, refused.stderr], [1, /^Failed to delete datastore redis: Datastore versions exist for datastore redis\. \(HTTP 400\)/], 'upstream refuses while versions exist')
  const versions = (await runMain(['datastore', 'version', 'list', 'redis', '-f', 'value', '-c', 'ID'], admin)).stdout.trim().split('\n')
  for (const v of versions) t.equal((await runMain(['datastore', 'version', 'delete', v, '--yes'], admin)).code, 0)
  const del = await runMain(['datastore', 'delete', 'redis', '--yes'], admin)
  t.equal(del.code, 0, del.stderr)
  const list = await runMain(['datastore', 'list', '-f', 'value', '-c', 'Name'], admin)
  t.notMatch(list.stdout, /redis/)
})
