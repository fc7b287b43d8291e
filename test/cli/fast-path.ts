import t from 'tap'
import { parse } from 'yaml'
import { fastParse } from '../../src/cli/fast.js'
import { instanceList } from '../../src/cli/commands/instance/list.js'
import { instanceShow } from '../../src/cli/commands/instance/show.js'
import { instanceCreate } from '../../src/cli/commands/instance/create.js'
import { parseSimpleYaml } from '../../src/sdk/auth/simple-yaml.js'
import { apiLab } from '../helpers/api.js'
import { runMain } from '../helpers/lab.js'

t.test('fastParse reads what it fully understands and leaves the rest to commander', async (t) => {
  t.same(fastParse(instanceList, []), { args: {}, opts: { format: 'table', quote: 'nonnumeric' } })
  t.same(fastParse(instanceList, ['-f', 'json', '-c', 'ID', '--column=Name', '--limit', '5', '--include_clustered', '--max-width', '80']), {
    args: {},
    opts: { format: 'json', quote: 'nonnumeric', column: ['ID', 'Name'], limit: '5', include_clustered: true, maxWidth: 80 },
  })
  t.same(fastParse(instanceShow, ['db1', '-f', 'shell', '--prefix', 'x_']), { args: { instance: 'db1' }, opts: { format: 'shell', prefix: 'x_' } })
  for (const bad of [['--help'], ['-h'], ['--bogus'], ['-f', 'xml'], ['-f'], ['extra'], ['--max-width', 'wide'], ['--noindent=1'], ['--', 'x']]) {
    t.equal(fastParse(instanceList, bad), undefined, `leaves ${bad.join(' ')} to commander`)
  }
  t.equal(fastParse(instanceShow, []), undefined, 'a missing argument')
  t.equal(fastParse(instanceShow, ['a', 'b']), undefined, 'too many arguments')
})

t.test('instance create --wait takes the fast path; options it does not read go to commander', async (t) => {
  t.same(fastParse(instanceCreate, ['db1', '--flavor', 'm1.tiny', '--size', '1', '--datastore', 'redis', '--wait', '--timeout', '30', '-f', 'value', '-c', 'id']), {
    args: { name: 'db1' },
    opts: { format: 'value', prefix: '', flavor: 'm1.tiny', size: 1, datastore: 'redis', wait: true, timeout: 30, column: ['id'] },
  })
  t.same(fastParse(instanceCreate, ['db1', '--flavor=2', '--is-public', '--allowed-cidr', '10.0.0.0/8', '--allowed-cidr', '::/0', '--module', 'm']), {
    args: { name: 'db1' },
    opts: { format: 'table', prefix: '', flavor: '2', isPublic: true, allowedCidr: ['10.0.0.0/8', '::/0'], module: ['m'] },
  })
  for (const bad of [
    ['db1', '--databases', 'a'],
    ['db1', '--users', 'u:p'],
    ['db1', '--timeout', 'soon'],
    ['db1', '--wait', '--timeout', '0'],
    ['db1', '--size', 'big'],
    ['db1', '--locality', 'near'],
    ['db1', '--wait=1'],
    ['', '--flavor', '1'],
    [],
  ]) {
    t.equal(fastParse(instanceCreate, bad), undefined, `leaves ${JSON.stringify(bad)} to commander`)
  }
})

t.test('the fast path prints exactly what the full program prints', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false })
  const r = await lab.req('POST', `/v1.0/${lab.demo.project}/instances`, { body: { instance: { name: 'db1', flavorRef: '1', volume: { size: 1 }, datastore: { type: 'postgresql' } } } })
  t.equal(r.status, 200)
  const slow = { ...lab.env, TROVE_NO_FAST_PATH: '1' }
  for (const args of [
    ['instance', 'list'],
    ['instance', 'list', '-f', 'json'],
    ['instance', 'list', '-f', 'csv', '-c', 'Name', '-c', 'Status'],
    ['instance', 'show', 'db1', '-f', 'yaml'],
    ['instance', 'show', 'nope'],
    ['flavor', 'list', '--sort-column', 'RAM', '--sort-descending'],
    ['flavor', 'show', 'm1.small', '-f', 'shell'],
    ['datastore', 'list', '-f', 'value'],
    ['datastore', 'show', 'postgresql'],
    ['datastore', 'version', 'list', 'mariadb'],
    ['cluster', 'list'],
    ['configuration', 'list', '-f', 'json', '--noindent'],
    ['db', 'list', 'nope'],
    ['instance', 'list', '-c', 'Nope'],
    ['instance', 'create', 'fast1', '--flavor', 'm1.tiny', '--size', '1', '--datastore', 'redis', '-f', 'value', '-c', 'name', '-c', 'status', '-c', 'flavor', '-c', 'volume'],
    ['instance', 'create', 'fast2', '--flavor', 'nope', '--size', '1', '--datastore', 'redis'],
    ['instance', 'create', 'fast3', '--flavor', 'm1.tiny', '--size', '0', '--datastore', 'redis'],
    ['instance', 'create', 'fast4', '--size', '1'],
    ['instance', 'create', 'fast5', '--flavor', 'm1.tiny', '--size', '1', '--datastore', 'nosuch'],
    ['instance', 'create', 'fast6', '--flavor', 'm1.tiny', '--size', '1', '--datastore', 'redis', '--wait', '--timeout', '0'],
  ]) {
    // Request ids differ from call to call.
    const norm = (r: { code: number; stdout: string; stderr: string }) => JSON.parse(JSON.stringify(r).replace(/req-[0-9a-f-]{36}/g, 'req-ID')) as typeof r
    const a = norm(await runMain(args, lab.env))
    const b = norm(await runMain(args, slow))
    t.same(a, b, args.join(' '))
  }
  // A bad --timeout is refused before the request: no instance is left behind by it.
  const bad = await runMain(['instance', 'create', 'fast7', '--flavor', 'm1.tiny', '--size', '1', '--datastore', 'redis', '--wait', '--timeout', '0'], lab.env)
  t.equal(bad.code, 2)
  t.match(bad.stderr, /--timeout.*positive/)
  const names = JSON.parse((await runMain(['instance', 'list', '-f', 'json', '-c', 'Name'], lab.env)).stdout) as Array<{ Name: string }>
  t.notOk(
    names.some((i) => i.Name === 'fast6' || i.Name === 'fast7'),
    'no instance created by a refused --timeout',
  )
})

t.test('simple clouds.yaml reader: the same as the yaml library, or it steps aside', async (t) => {
  const same = [
    '# comment\nclouds:\n  lab:\n    auth:\n      auth_url: http://127.0.0.1:5000/v3\n      username: demo\n      password: 3xYz9\n      project_name: "demo"\n    region_name: RegionOne\n    identity_api_version: 3\n    verify: false\n    interface: \'public\'\n',
    'clouds:\n  a:\n    regions:\n    - r1\n    - r2\n    insecure: yes\n    cacert: ~\n    x: 1.5\n    z: -3\n    empty:\n  b:\n    k: v # trailing comment\n',
    "clouds:\n  \"quoted key\":\n    password: 'it''s'\n    host: a:b\n",
    '',
  ]
  for (const doc of same) {
    const simple = parseSimpleYaml(doc)
    t.not(simple, undefined, `read: ${JSON.stringify(doc.slice(0, 40))}`)
    t.same(simple ?? null, parse(doc, { version: '1.1', uniqueKeys: false }) ?? null)
  }
  for (const doc of [
    'a: {b: 1}\n',
    'a: [1, 2]\n',
    'a: &x 1\nb: *x\n',
    'a: |\n  text\n',
    'a: "esc\\n"\n',
    'a: 0755\n',
    'a: 1_000\n',
    'a: 2001-12-14\n',
    'a: 1e3\n',
    '---\na: 1\n',
    'a: b: c\n',
    'a:\n\tb: 1\n',
    'a: !!str 1\n',
    'a: .inf\n',
    'y: 1\n',
    'on: 1\n',
    '1: a\n',
  ]) {
    t.equal(parseSimpleYaml(doc), undefined, `steps aside for ${JSON.stringify(doc)}`)
  }
})
