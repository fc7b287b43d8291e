import t from 'tap'
import { runMain } from '../helpers/lab.js'
import { fakeCloud, fault, upstreamNextLink, type Seen } from '../helpers/fake-trove.js'

// The CLI against an upstream cloud (issue 11 item 8), played by the fake cloud: Keystone
// with a catalog, upstream Trove's quirks, Swift.
const IID = '9b5b3b6e-8a3f-4a4f-9d55-2d6f1c0a1b01'
const instance = { id: IID, name: 'db1', status: 'ACTIVE', flavor: { id: '2' }, datastore: { type: 'mysql', version: '5.7.29' }, volume: { size: 2 }, links: [] }

t.test('user list follows next links as upstream encodes them (markers encoded twice)', async (t) => {
  // 45 users, two of them with characters that need escaping; upstream pages by name@host, 20 a page.
  const users = Array.from({ length: 43 }, (_, i) => ({ name: `u${String(i).padStart(2, '0')}`, host: '%', databases: [] as Array<{ name: string }> }))
  users.push({ name: 'u20&x', host: '10.0.0.%', databases: [] }, { name: 'u20 y+z', host: '%', databases: [] })
  const key = (u: { name: string; host: string }) => `${u.name}@${u.host}`
  users.sort((a, b) => (key(a) < key(b) ? -1 : 1))
  const cloud = await fakeCloud(t, (s) => {
    if (s.method === 'GET' && s.url === `/instances/${IID}`) return { body: { instance } }
    const u = new URL(s.url, 'http://x')
    if (s.method === 'GET' && u.pathname === `/instances/${IID}/users`) {
      const marker = u.searchParams.get('marker')
      const from = marker === null ? users : users.filter((x) => key(x) > marker)
      const page = from.slice(0, 20)
      return { body: { users: page, ...(from.length > 20 ? { links: upstreamNextLink('http://x', s.url, key(page[19]), 20) } : {}) } }
    }
    return fault(404, 'itemNotFound', `unexpected ${s.method} ${s.url}`)
  })
  const r = await runMain(['user', 'list', IID, '-f', 'value', '-c', 'Name'], cloud.env)
  t.equal(r.stderr, '')
  t.equal(r.code, 0)
  t.same(
    r.stdout.trimEnd().split('\n'),
    users.map((u) => u.name),
    'every user once, in order',
  )
  const markers = cloud.seen.filter((s) => s.url.includes('/users?')).map((s) => s.url.replace(/^.*\?/, ''))
  t.same(
    markers,
    [`marker=${key(users[19]).replace(/%/g, '%25').replace(/@/g, '%40')}`, `marker=${key(users[39]).replace(/%/g, '%25').replace(/@/g, '%40').replace(/ /g, '%20')}`],
    'the marker decoded once and sent as it is, as the openstack client does',
  )
})

t.test('integers beyond 2^53 print exactly as the server sent them', async (t) => {
  const DSV = '0c6a5f7e-4e4e-4d2a-9a8e-7f7b1c2d3e4f'
  const param = '{"name": "max_heap_table_size", "type": "integer", "restart_required": false, "min": 16384, "max": 18446744073709551615, "datastore_version_id": "' + DSV + '"}'
  const cloud = await fakeCloud(t, (s) => {
    if (s.url === `/datastores/versions/${DSV}/parameters`) return { raw: `{"configuration-parameters": [${param}]}` }
    if (s.url === `/datastores/versions/${DSV}/parameters/max_heap_table_size`) return { raw: param }
    return fault(404, 'itemNotFound', `unexpected ${s.method} ${s.url}`)
  })
  const list = await runMain(['configuration', 'parameter', 'list', DSV], cloud.env)
  t.equal(list.stderr, '')
  t.match(list.stdout, /\| max_heap_table_size \| integer \| {4}16384 \| 18446744073709551615 \| False/)
  const json = await runMain(['configuration', 'parameter', 'list', DSV, '-f', 'json'], cloud.env)
  t.match(json.stdout, /"Max Size": 18446744073709551615,/)
  const show = await runMain(['configuration', 'parameter', 'show', DSV, 'max_heap_table_size', '-f', 'yaml'], cloud.env)
  t.match(show.stdout, /^max: 18446744073709551615$/m)
  const value = await runMain(['configuration', 'parameter', 'show', DSV, 'max_heap_table_size', '-f', 'value', '-c', 'max'], cloud.env)
  t.equal(value.stdout, '18446744073709551615\n')
})

t.test('configuration list fills Datastore Version Number as the openstack client does', async (t) => {
  const C1 = 'd68de1e9-ce1d-4936-aafe-77496d2df295'
  const C2 = 'e79ef2fa-df2e-4a47-bbf0-88507e3ef3a6'
  // Upstream's list items (upstream-transcript 30) carry no datastore_version_number.
  const item = (id: string, name: string) => ({
    id,
    name,
    description: null,
    created: '2026-11-24T21:43:33',
    updated: '2026-11-24T21:43:33',
    datastore_version_id: 'v1',
    datastore_name: 'mysql',
    datastore_version_name: '5.7.29',
  })
  const cloud = await fakeCloud(t, (s) => {
    if (s.url === '/configurations') return { body: { configurations: [item(C1, 'cfg-demo'), item(C2, 'gone')] } }
    if (s.url === `/configurations/${C1}`)
      return {
        raw: JSON.stringify({ configuration: { ...item(C1, 'cfg-demo'), datastore_version_number: '5.7.29', instance_count: 0, values: { big: 0 } } }).replace('"big":0', '"big":18446744073709551615'),
      }
    return fault(404, 'itemNotFound', `unexpected ${s.method} ${s.url}`)
  })
  const r = await runMain(['configuration', 'list', '-f', 'csv'], cloud.env)
  t.equal(r.stderr, '')
  t.equal(
    r.stdout,
    [
      '"ID","Name","Description","Datastore Name","Datastore Version Name","Datastore Version Number"',
      `"${C1}","cfg-demo","","mysql","5.7.29","5.7.29"`,
      `"${C2}","gone","","mysql","5.7.29",""`,
      '',
    ].join('\n'),
  )
  t.same(cloud.seen.map((s) => s.url).sort(), ['/configurations', `/configurations/${C1}`, `/configurations/${C2}`])
  const show = await runMain(['configuration', 'show', C1, '-f', 'value', '-c', 'values'], cloud.env)
  t.equal(show.stdout, '{"big": 18446744073709551615}\n', 'values as a JSON string, exact')
})

t.test("the openstack client's instance options: list --all-projects/--project-id, delete --force, create --module --locality", async (t) => {
  const MOD = '5e0c2b8a-1111-4c3d-8e9f-0a1b2c3d4e5f'
  const mgmt = { ...instance, server_id: 'srv-1', tenant_id: 'proj-9', deleted: false }
  const cloud = await fakeCloud(t, (s) => {
    if (s.method === 'GET' && s.url.startsWith('/mgmt/instances?')) return { body: { instances: [mgmt] } }
    if (s.method === 'GET' && s.url === `/instances/${IID}`) return { body: { instance } }
    if (s.method === 'GET' && s.url === '/flavors/2') return { body: { flavor: { id: 2, str_id: '2', name: 'm1.small', ram: 1024, vcpus: 1, disk: 10, ephemeral: 0 } } }
    if (s.method === 'GET' && s.url === '/modules/ping') return fault(404, 'itemNotFound', 'no')
    if (s.method === 'GET' && s.url === '/modules') return { body: { modules: [{ id: MOD, name: 'ping', type: 'ping' }] } }
    if (s.method === 'GET' && s.url === `/modules/${MOD}`) return { body: { module: { id: MOD, name: 'ping', type: 'ping' } } }
    if (s.method === 'POST' && s.url === '/instances') return { body: { instance } }
    if (s.method === 'POST' || s.method === 'DELETE') return { status: 202 }
    return fault(404, 'itemNotFound', `unexpected ${s.method} ${s.url}`)
  })
  const run = (...args: string[]) => {
    cloud.seen.length = 0
    return runMain(args, cloud.env)
  }
  const reqs = () => cloud.seen.map((s: Seen) => [s.method, s.url, s.body])

  let r = await run('instance', 'list', '--all-projects', '-f', 'json')
  t.equal(r.stderr, '')
  t.same(reqs(), [['GET', '/mgmt/instances?include_clustered=False&deleted=False', undefined]])
  t.match(JSON.parse(r.stdout), [{ ID: IID, 'Server ID': 'srv-1', 'Tenant ID': 'proj-9' }])
  r = await run('instance', 'list', '--project-id', 'proj-9', '--limit', '5', '-c', 'Tenant ID', '-f', 'value')
  t.same(reqs(), [['GET', '/mgmt/instances?limit=5&include_clustered=False&project_id=proj-9&deleted=False', undefined]])
  t.equal(r.stdout, 'proj-9\n')

  r = await run('instance', 'delete', IID, '--force', '--yes')
  t.equal(r.code, 0)
  t.same(reqs(), [
    ['POST', `/instances/${IID}/action`, { reset_status: {} }],
    ['DELETE', `/instances/${IID}`, undefined],
  ])
  t.equal(r.stdout, `Request to delete database instance ${IID} has been accepted.\n`)

  r = await run('instance', 'create', 'db2', '--flavor', '2', '--size', '1', '--module', 'ping', '--module', MOD, '--locality', 'anti-affinity')
  t.equal(r.stderr, '')
  const body = cloud.seen.find((s) => s.method === 'POST')?.body as { instance: Record<string, unknown> }
  t.same(body.instance.modules, [{ id: MOD }, { id: MOD }])
  t.equal(body.instance.locality, 'anti-affinity')
  t.same(Object.keys(body.instance), ['name', 'flavorRef', 'volume', 'modules', 'locality', 'access'], 'upstream key order')

  r = await run('instance', 'create', 'db3', '--replica-of', IID, '--locality', 'affinity')
  t.same([r.code, r.stderr], [1, 'Cannot specify locality when adding replicas to existing master.\n'])
  t.same(
    reqs().filter(([m]) => m !== 'GET'),
    [],
    'nothing created',
  )
  r = await run('instance', 'create', 'db3', '--flavor', '2', '--locality', 'near')
  t.equal(r.code, 2)
  t.match(r.stderr, /argument 'near' is invalid. Allowed choices are affinity, anti-affinity/)
})

t.test('log tail and save read the published log from Swift in the catalog, as the openstack client does', async (t) => {
  const prefix = `${IID}/mysql-general/`
  const log = (name: string, p: string) => ({
    name,
    type: 'USER',
    status: 'Published',
    published: '128',
    pending: '0',
    container: 'data_logs',
    prefix: p,
    metafile: `${p.replace(/\/$/, '')}_metafile`,
  })
  const cloud = await fakeCloud(
    t,
    (s) => {
      if (s.method === 'GET' && s.url === `/instances/${IID}`) return { body: { instance } }
      if (s.method === 'POST' && s.url === `/instances/${IID}/log`) {
        const name = (s.body as { name: string }).name
        return { body: { log: log(name, name === 'general' ? prefix : `${IID}/mysql-${name}/`) } }
      }
      return fault(404, 'itemNotFound', `unexpected ${s.method} ${s.url}`)
    },
    {
      data_logs: {
        [`${prefix}log-2026-01-01T00:00:02`]: { text: 'line4\nline5\n', lastModified: '2026-01-01T00:00:02.000000', headers: { 'x-object-meta-lines': '2' } },
        [`${prefix}log-2026-01-01T00:00:01`]: { text: 'line1\nline2\nline3\n', lastModified: '2026-01-01T00:00:01.000000', headers: { 'x-object-meta-lines': '3' } },
        [`${IID}/mysql-general_metafile`]: { text: '{"log_name": "general"}', lastModified: '2026-01-01T00:00:03.000000' },
      },
    },
  )
  let r = await runMain(['log', 'tail', IID, 'general', '--lines', '3'], cloud.env)
  t.same([r.code, r.stderr, r.stdout], [0, '', 'line3\nline4\nline5\n'], 'the last 3 lines across two objects')
  t.same(
    cloud.swiftSeen.map((s) => `${s.method} ${s.url}`),
    [
      `GET /data_logs?format=json&prefix=${encodeURIComponent(prefix)}`,
      `HEAD /data_logs/${IID}/mysql-general/log-2026-01-01T00%3A00%3A02`,
      `HEAD /data_logs/${IID}/mysql-general/log-2026-01-01T00%3A00%3A01`,
      `GET /data_logs/${IID}/mysql-general/log-2026-01-01T00%3A00%3A01`,
      `GET /data_logs/${IID}/mysql-general/log-2026-01-01T00%3A00%3A02`,
    ],
    'container listing by prefix, HEADs newest first, then the objects (with the Keystone token)',
  )
  t.notOk(
    cloud.seen.some((s) => s.url.includes('/contents')),
    'the lab-only route is not asked',
  )
  r = await runMain(['log', 'tail', IID, 'general'], cloud.env)
  t.equal(r.stdout, 'line1\nline2\nline3\nline4\nline5\n', '50 lines: everything')

  const dir = t.testdir({})
  const file = `${dir}/general.log`
  r = await runMain(['log', 'save', IID, 'general', '--file', file], cloud.env)
  t.same([r.code, r.stdout], [0, `Log "general" written to ${file}\n`])
  const { readFileSync } = await import('node:fs')
  t.equal(readFileSync(file, 'utf8'), 'line1\nline2\nline3\nline4\nline5\n', 'every object, oldest first')

  r = await runMain(['log', 'tail', IID, 'slow_query'], cloud.env)
  t.same([r.code, r.stdout], [0, `ERROR: No published 'slow_query' log was found for ${IID}\n`], 'nothing under the prefix')
  cloud.swiftSeen.length = 0
  const other = await fakeCloud(t, (s) => (s.method === 'POST' ? { body: { log: { ...log('general', prefix), container: 'gone' } } } : { body: { instance } }))
  r = await runMain(['log', 'tail', IID, 'general'], other.env)
  t.same([r.code, r.stdout], [0, `ERROR: No published 'general' log was found for ${IID}\n`], 'Swift 404 on the container')
})

t.test('a fixed endpoint that is not a lab has no catalog to find Swift in', async (t) => {
  const { fakeTrove } = await import('../helpers/fake-trove.js')
  const api = await fakeTrove(t, (s) => {
    if (s.method === 'GET' && s.url === `/instances/${IID}`) return { body: { instance } }
    if (s.method === 'POST') return { body: { log: { name: 'general', container: 'data_logs', prefix: `${IID}/mysql-general/` } } }
    return fault(404, 'itemNotFound', `unexpected ${s.method} ${s.url}`)
  })
  const r = await runMain(['log', 'tail', IID, 'general'], api.env)
  t.same([r.code, r.stdout], [1, ''])
  t.equal(r.stderr, 'the object store (Swift) is found in the Keystone catalog: authenticate with Keystone (OS_AUTH_URL or a clouds.yaml profile), not a fixed endpoint\n')
})

t.test('messages mention the lab only against a lab', async (t) => {
  const cloud = await fakeCloud(t, () => fault(404, 'itemNotFound', 'no'))
  const meta = await runMain(['metadata-list', 'x'], cloud.env)
  t.same([meta.code, meta.stderr], [1, 'metadata-list: not supported by this client\n'])
  const exec = await runMain(['backup', 'execution', 'delete', 'e1'], cloud.env)
  t.same([exec.code, exec.stderr], [1, 'cannot delete execution e1: Mistral workflow executions (scheduled backups) are not supported by this client\n'])
  // A wrong password: the cloud's Keystone refuses it.
  const refusing = await fakeCloud(t, () => ({}))
  const { createServer } = await import('node:http')
  const keystone = createServer((_req, res) => {
    res.writeHead(401, { 'content-type': 'application/json' })
    res.end('{"error": {"code": 401, "title": "Unauthorized", "message": "The request you have made requires authentication."}}')
  })
  await new Promise<void>((r) => keystone.listen(0, '127.0.0.1', r))
  t.teardown(() => new Promise<void>((r) => keystone.close(() => r())))
  const port = (keystone.address() as { port: number }).port
  const denied = await runMain(['instance', 'list'], { ...refusing.env, OS_AUTH_URL: `http://127.0.0.1:${port}/v3` })
  t.same([denied.code, denied.stderr], [4, 'The request you have made requires authentication. (HTTP 401)\nTry: check OS_CLOUD / OS_USERNAME / OS_PASSWORD\n'])
})

t.test('an unreachable server: the lab hint only for this host, where a lab runs', async (t) => {
  const { describeError } = await import('../../src/cli/errors.js')
  const { APIConnectionError } = await import('../../src/sdk/index.js')
  const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })
  t.match(describeError(new APIConnectionError('http://127.0.0.1:8779/v1.0/p1/instances', refused)).hint, /Start a lab with 'trove server start'/)
  t.match(describeError(new APIConnectionError('http://[::1]:5000/v3/auth/tokens', refused)).hint, /Start a lab/)
  t.equal(describeError(new APIConnectionError('https://cloud.example.com:5000/v3/auth/tokens', refused)).hint, 'is the cloud reachable from here? Check OS_AUTH_URL / --os-auth-url and the network')
})

t.test('a lab says so: every answer carries X-Trove-Lab', async (t) => {
  const { startLab } = await import('../helpers/lab.js')
  const { TroveClient } = await import('../../src/sdk/index.js')
  const { fakeTrove } = await import('../helpers/fake-trove.js')
  const lab = await startLab(t, { spawnAgents: false, rateLimits: [] })
  const c = new TroveClient({ endpoint: `${lab.url}/v1.0/p1` })
  t.teardown(() => c.close())
  t.equal(await c.isLab(), true, 'asked before any request: the version document')
  const api = await fakeTrove(t, () => ({ body: { versions: [] } }))
  const d = new TroveClient({ endpoint: api.url })
  t.teardown(() => d.close())
  t.equal(await d.isLab(), false)
  t.same(
    api.seen.map((s) => s.url),
    ['/'],
    'one GET of the version document',
  )
  const wrong = await runMain(['instance', 'list'], { ...lab.env, OS_PASSWORD: 'wrong' })
  t.match(wrong.stderr, /^The request you have made requires authentication\. \(HTTP 401\)\nTry: check OS_CLOUD \/ OS_USERNAME \/ OS_PASSWORD; for a lab: export OS_CLIENT_CONFIG_FILE/)
  const meta = await runMain(['metadata-list', 'x'], lab.env)
  t.same([meta.code, meta.stderr], [1, 'metadata-list: not supported by the Trove v1.0 API of this lab\n'])
})

t.test('exact JSON: bigints only where a number would lose digits', async (t) => {
  const { exactJson } = await import('../../src/cli/client-factory.js')
  t.same(exactJson('{"a": 12345678901234567890, "b": [1.5, -9007199254740993, 9007199254740991, "12345678901234567"]}'), {
    a: 12345678901234567890n,
    b: [1.5, -9007199254740993n, 9007199254740991, '12345678901234567'],
  })
  t.same(exactJson('{"a": 1, "a": 12345678901234567890}'), { a: 12345678901234567000 }, 'duplicate keys: the last wins, as JSON.parse and Python do')
  t.same(exactJson('{"id": 5}'), { id: 5 })
})

t.test('--debug shows object store answers by size only (guest logs may hold anything)', async (t) => {
  const prefix = `${IID}/mysql-general/`
  const cloud = await fakeCloud(t, (s) => (s.method === 'POST' ? { body: { log: { name: 'general', container: 'data_logs', prefix } } } : { body: { instance } }), {
    data_logs: { [`${prefix}log-1`]: { text: "SET PASSWORD FOR 'u'@'%' = PASSWORD('hunter2')\n", lastModified: '2026-01-01T00:00:01', headers: { 'x-object-meta-lines': '1' } } },
  })
  const r = await runMain(['--debug', 'log', 'tail', IID, 'general'], cloud.env)
  t.equal(r.code, 0)
  t.match(r.stdout, /hunter2/, 'the log itself is printed')
  t.notMatch(r.stderr, /hunter2/, 'but not in the debug lines')
  t.match(r.stderr, /RESP: \[200\]\s+\(\d+ bytes\)/)
})
