import t from 'tap'
import { OutputError, render, type ListData, type ShowData } from '../../../src/cli/output/index.js'

const instances: ListData = {
  kind: 'list',
  columns: ['ID', 'Name', 'Datastore Version', 'Public', 'Addresses', 'Size', 'Role'],
  rows: [
    ['i1', 'db1', '5.7', false, [{ address: '10.0.0.5', type: 'private' }], 1, null],
    ['i2', 'db "2"', '8.0', true, [], 2.5, 'replica'],
  ],
}

const instance: ShowData = {
  kind: 'show',
  fields: {
    name: 'db1',
    created: '2024-01-01T00:05:00',
    id: 'i1',
    volume: 1,
    public: false,
    replicas: null,
    addresses: [{ type: 'private', address: '10.0.0.5' }],
    'Datastore Version': '5.7',
  },
}

t.test('json list: indent 2, objects keyed by column name, native types', async (t) => {
  t.equal(
    render(instances, { format: 'json' }),
    [
      '[',
      '  {',
      '    "ID": "i1",',
      '    "Name": "db1",',
      '    "Datastore Version": "5.7",',
      '    "Public": false,',
      '    "Addresses": [',
      '      {',
      '        "address": "10.0.0.5",',
      '        "type": "private"',
      '      }',
      '    ],',
      '    "Size": 1,',
      '    "Role": null',
      '  },',
      '  {',
      '    "ID": "i2",',
      '    "Name": "db \\"2\\"",',
      '    "Datastore Version": "8.0",',
      '    "Public": true,',
      '    "Addresses": [],',
      '    "Size": 2.5,',
      '    "Role": "replica"',
      '  }',
      ']',
      '',
    ].join('\n'),
  )
})

t.test('json --noindent: one line with ", " and ": " separators', async (t) => {
  t.equal(
    render(instances, { format: 'json', noindent: true }),
    '[{"ID": "i1", "Name": "db1", "Datastore Version": "5.7", "Public": false, "Addresses": [{"address": "10.0.0.5", "type": "private"}], "Size": 1, "Role": null}, ' +
      '{"ID": "i2", "Name": "db \\"2\\"", "Datastore Version": "8.0", "Public": true, "Addresses": [], "Size": 2.5, "Role": "replica"}]\n',
  )
  t.equal(render({ kind: 'list', columns: ['ID'], rows: [] }, { format: 'json' }), '[]\n')
})

t.test('json show: sorted fields; non-ASCII escaped like Python (ensure_ascii)', async (t) => {
  t.equal(render({ kind: 'show', fields: { name: 'café 😀', id: 'i1', n: 1e-7 } }, { format: 'json' }), '{\n  "id": "i1",\n  "n": 1e-07,\n  "name": "caf\\u00e9 \\ud83d\\ude00"\n}\n')
  t.equal(render({ kind: 'show', fields: { b: [], a: {} } }, { format: 'json', noindent: true }), '{"a": {}, "b": []}\n')
})

t.test('yaml list: block style, keys sorted inside items, numbers-as-strings quoted, null', async (t) => {
  t.equal(
    render(instances, { format: 'yaml' }),
    [
      '- Addresses:',
      '  - address: 10.0.0.5',
      '    type: private',
      "  Datastore Version: '5.7'",
      '  ID: i1',
      '  Name: db1',
      '  Public: false',
      '  Role: null',
      '  Size: 1',
      '- Addresses: []',
      "  Datastore Version: '8.0'",
      '  ID: i2',
      '  Name: db "2"',
      '  Public: true',
      '  Role: replica',
      '  Size: 2.5',
      '',
    ].join('\n'),
  )
  t.equal(render({ kind: 'list', columns: ['ID'], rows: [] }, { format: 'yaml' }), '[]\n')
})

t.test('yaml show: one key per field, timestamps quoted, nested mappings sorted', async (t) => {
  t.equal(
    render(instance, { format: 'yaml' }),
    [
      "Datastore Version: '5.7'",
      'addresses:',
      '- address: 10.0.0.5',
      '  type: private',
      "created: '2024-01-01T00:05:00'",
      'id: i1',
      'name: db1',
      'public: false',
      'replicas: null',
      'volume: 1',
      '',
    ].join('\n'),
  )
})

t.test('yaml quoting: the strings PyYAML would read back as other types', async (t) => {
  const fields = {
    a: 'yes',
    b: '',
    c: '0777',
    d: '1_000',
    e: '~',
    f: 'x: y',
    g: '- item',
    h: "it's",
    i: 'café',
    j: 'two\nlines',
    k: '2024-01-01',
    l: '1e5',
    m: 'ACTIVE',
  }
  t.equal(
    render({ kind: 'show', fields }, { format: 'yaml' }),
    ["a: 'yes'", "b: ''", "c: '0777'", "d: '1_000'", "e: '~'", "f: 'x: y'", "g: '- item'", "h: it's", 'i: "caf\\xE9"', "j: 'two", '', "  lines'", "k: '2024-01-01'", 'l: 1e5', 'm: ACTIVE', ''].join(
      '\n',
    ),
  )
})

t.test('yaml folds long strings at 80 columns', async (t) => {
  const text = 'word '.repeat(20).trim()
  t.equal(
    render({ kind: 'show', fields: { description: text } }, { format: 'yaml' }),
    'description: word word word word word word word word word word word word word word\n  word word word word word word\n',
  )
})

t.test('csv: default nonnumeric quoting, None empty, booleans and numbers bare', async (t) => {
  t.equal(
    render(instances, { format: 'csv' }),
    [
      '"ID","Name","Datastore Version","Public","Addresses","Size","Role"',
      `"i1","db1","5.7",False,"[{'address': '10.0.0.5', 'type': 'private'}]",1,""`,
      '"i2","db ""2""","8.0",True,"[]",2.5,"replica"',
      '',
    ].join('\n'),
  )
})

t.test('csv --quote all / minimal / none', async (t) => {
  const d: ListData = {
    kind: 'list',
    columns: ['A', 'B', 'C'],
    rows: [
      ['x,y', 1, null],
      ['back\\slash', true, 'say "hi"'],
    ],
  }
  t.equal(render(d, { format: 'csv', quote: 'all' }), '"A","B","C"\n"x,y","1",""\n"back\\\\slash","True","say ""hi"""\n')
  t.equal(render(d, { format: 'csv', quote: 'minimal' }), 'A,B,C\n"x,y",1,\nback\\\\slash,True,"say ""hi"""\n')
  t.equal(render(d, { format: 'csv', quote: 'none' }), 'A,B,C\nx\\,y,1,\nback\\\\slash,True,say \\"hi\\"\n')
  t.equal(render(d, { format: 'csv', quote: 'nonnumeric' }), '"A","B","C"\n"x,y",1,""\n"back\\\\slash",True,"say ""hi"""\n')
})

t.test('csv: a single empty field is written as "" (and is an error with --quote none)', async (t) => {
  const d: ListData = { kind: 'list', columns: ['Role'], rows: [['']] }
  t.equal(render(d, { format: 'csv', quote: 'minimal' }), 'Role\n""\n')
  t.throws(() => render(d, { format: 'csv', quote: 'none' }), {
    constructor: OutputError,
    message: 'single empty field record must be quoted',
  })
})

t.test('value: cells joined by one space, Python str(), no escaping', async (t) => {
  t.equal(render(instances, { format: 'value' }), "i1 db1 5.7 False [{'address': '10.0.0.5', 'type': 'private'}] 1 None\ni2 db \"2\" 8.0 True [] 2.5 replica\n")
  t.equal(render({ kind: 'list', columns: ['ID'], rows: [] }, { format: 'value' }), '')
  t.equal(render(instance, { format: 'value', columns: ['id', 'replicas', 'public'] }), 'i1\nFalse\nNone\n')
})

t.test('shell: name="value" lines, names lower-cased with _ for space - and :', async (t) => {
  const d: ShowData = {
    kind: 'show',
    fields: { 'Datastore Version': '5.7', 'os-ext:status': 'say "hi"', id: 'i1', volume: 1, replicas: null, public: false, tags: ['a'] },
  }
  t.equal(render(d, { format: 'shell' }), ['datastore_version="5.7"', 'id="i1"', 'os_ext_status="say \\"hi\\""', 'public="False"', 'replicas="None"', 'tags="[\'a\']"', 'volume="1"', ''].join('\n'))
  t.equal(render(d, { format: 'shell', prefix: 'db_', columns: ['id'] }), 'db_id="i1"\n')
})

t.test('several shows (instance create --replica-count N --wait): tables one after another, json and yaml one list', async (t) => {
  const a: ShowData = { kind: 'show', fields: { name: 'r-1', id: 'i1' } }
  const b: ShowData = { kind: 'show', fields: { name: 'r-2', id: 'i2' } }
  const shows = { kind: 'shows' as const, items: [a, b] }
  t.equal(render(shows), render(a) + render(b), 'table: each as instance show prints it')
  t.equal(render(shows, { format: 'value', columns: ['id'] }), 'i1\ni2\n')
  t.same(JSON.parse(render(shows, { format: 'json' })), [
    { id: 'i1', name: 'r-1' },
    { id: 'i2', name: 'r-2' },
  ])
  t.equal(render(shows, { format: 'yaml', columns: ['name'] }), '- name: r-1\n- name: r-2\n')
  t.throws(() => render(shows, { format: 'csv' }), /invalid choice: 'csv'/)
})
