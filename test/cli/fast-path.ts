import t from 'tap'
import { parse } from 'yaml'
import { fastParse } from '../../src/cli/fast.js'
import { instanceList } from '../../src/cli/commands/instance/list.js'
import { instanceShow } from '../../src/cli/commands/instance/show.js'
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
  ]) {
    const a = await runMain(args, lab.env)
    const b = await runMain(args, slow)
    t.same(a, b, args.join(' '))
  }
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
