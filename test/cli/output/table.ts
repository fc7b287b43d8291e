import t from 'tap'
import { OutputError, render, type ListData, type ShowData } from '../../../src/cli/output/index.js'

const lines = (...l: string[]): string => l.join('\n') + '\n'

t.test('list table: PrettyTable borders, padding, header, left-aligned strings', async (t) => {
  const data: ListData = {
    kind: 'list',
    columns: ['ID', 'Name'],
    rows: [
      ['a1b2', 'mysql'],
      ['c3d4', 'postgresql'],
    ],
  }
  const expected = lines('+------+------------+', '| ID   | Name       |', '+------+------------+', '| a1b2 | mysql      |', '| c3d4 | postgresql |', '+------+------------+')
  t.equal(render(data, {}), expected)
  t.equal(render(data, { format: 'table' }), expected)
})

t.test('list table: numeric first-row cells right-align the column and its header', async (t) => {
  const data: ListData = {
    kind: 'list',
    columns: ['ID', 'Name', 'RAM', 'vCPUs', 'Disk', 'Ephemeral'],
    rows: [
      ['1', 'm1.tiny', 512, 1, 1, 0],
      ['2', 'm1.small', 2048, 1, 20, 0],
    ],
  }
  t.equal(
    render(data, {}),
    lines(
      '+----+----------+------+-------+------+-----------+',
      '| ID | Name     |  RAM | vCPUs | Disk | Ephemeral |',
      '+----+----------+------+-------+------+-----------+',
      '| 1  | m1.tiny  |  512 |     1 |    1 |         0 |',
      '| 2  | m1.small | 2048 |     1 |   20 |         0 |',
      '+----+----------+------+-------+------+-----------+',
    ),
  )
})

t.test('list table: alignment comes from the first row only; floats right, booleans/None left', async (t) => {
  const data: ListData = {
    kind: 'list',
    columns: ['Size', 'Used', 'Public', 'Role'],
    rows: [
      [1, 0.5, false, null],
      ['-', 12.25, true, 'replica'],
    ],
  }
  t.equal(
    render(data, {}),
    lines(
      '+------+-------+--------+---------+',
      '| Size |  Used | Public | Role    |',
      '+------+-------+--------+---------+',
      '|    1 |   0.5 | False  | None    |',
      '|    - | 12.25 | True   | replica |',
      '+------+-------+--------+---------+',
    ),
  )
})

t.test('list table: Python str() of lists and dicts', async (t) => {
  const data: ListData = {
    kind: 'list',
    columns: ['ID', 'Addresses', 'CIDRs'],
    rows: [['i1', [{ address: '10.0.0.5', type: 'private' }], []]],
  }
  t.equal(
    render(data, {}),
    lines(
      '+----+----------------------------------------------+-------+',
      '| ID | Addresses                                    | CIDRs |',
      '+----+----------------------------------------------+-------+',
      "| i1 | [{'address': '10.0.0.5', 'type': 'private'}] | []    |",
      '+----+----------------------------------------------+-------+',
    ),
  )
})

t.test('list table: multi-line cells pad the other cells below; \\r\\n and \\r are cleaned up', async (t) => {
  const data: ListData = {
    kind: 'list',
    columns: ['Name', 'Versions'],
    rows: [
      ['mysql', '5.7 (a1)\r\n8.0 (b2)'],
      ['redis', 'x\ry'],
    ],
  }
  t.equal(
    render(data, {}),
    lines('+-------+----------+', '| Name  | Versions |', '+-------+----------+', '| mysql | 5.7 (a1) |', '|       | 8.0 (b2) |', '| redis | x y      |', '+-------+----------+'),
  )
})

t.test('list table: wide characters take two cells', async (t) => {
  const data: ListData = { kind: 'list', columns: ['Name'], rows: [['日本'], ['abc']] }
  t.equal(render(data, {}), lines('+------+', '| Name |', '+------+', '| 日本 |', '| abc  |', '+------+'))
})

t.test('list table: empty list prints a bare newline, or header only with printEmpty', async (t) => {
  const data: ListData = { kind: 'list', columns: ['ID', 'Name'], rows: [] }
  t.equal(render(data, {}), '\n')
  t.equal(render(data, { printEmpty: true }), lines('+----+------+', '| ID | Name |', '+----+------+', '+----+------+'))
})

t.test('show table: Field/Value, sorted by field, left-aligned, multi-line values', async (t) => {
  const data: ShowData = {
    kind: 'show',
    fields: {
      name: 'mysql',
      'versions (id)': '5.7 (a1)\n8.0 (b2)',
      id: 'ds-1',
      default_version: '8.0',
    },
  }
  t.equal(
    render(data, {}),
    lines(
      '+-----------------+----------+',
      '| Field           | Value    |',
      '+-----------------+----------+',
      '| default_version | 8.0      |',
      '| id              | ds-1     |',
      '| name            | mysql    |',
      '| versions (id)   | 5.7 (a1) |',
      '|                 | 8.0 (b2) |',
      '+-----------------+----------+',
    ),
  )
})

t.test('show table: numbers stay left-aligned and non-strings print as Python', async (t) => {
  const data: ShowData = {
    kind: 'show',
    fields: { volume: 10, public: false, replicas: null, allowed_cidrs: ['0.0.0.0/0'], flavor: { id: '1' } },
  }
  t.equal(
    render(data, {}),
    lines(
      '+---------------+---------------+',
      '| Field         | Value         |',
      '+---------------+---------------+',
      "| allowed_cidrs | ['0.0.0.0/0'] |",
      "| flavor        | {'id': '1'}   |",
      '| public        | False         |',
      '| replicas      | None          |',
      '| volume        | 10            |',
      '+---------------+---------------+',
    ),
  )
})

t.test('show fields set to undefined are absent; null prints None', async (t) => {
  const d: ShowData = { kind: 'show', fields: { id: 'i1', fault: undefined, replica_of: null } }
  t.equal(render(d, { format: 'shell' }), 'id="i1"\nreplica_of="None"\n')
  t.equal(render(d, { format: 'json', noindent: true }), '{"id": "i1", "replica_of": null}\n')
})

t.test('show table with no fields prints a bare newline (print_empty is off for show)', async (t) => {
  t.equal(render({ kind: 'show', fields: {} }, {}), '\n')
  t.equal(render({ kind: 'show', fields: {} }, { printEmpty: true }), '\n')
})

t.test('-c keeps the command column order, whatever order it is given in', async (t) => {
  const data: ListData = { kind: 'list', columns: ['ID', 'Name', 'Status'], rows: [['i1', 'db1', 'ACTIVE']] }
  const expected = lines('+----+--------+', '| ID | Status |', '+----+--------+', '| i1 | ACTIVE |', '+----+--------+')
  t.equal(render(data, { columns: ['Status', 'ID'] }), expected)
  t.equal(render(data, { columns: ['Status', 'nope', 'ID'] }), expected, 'unknown names are dropped')
  t.equal(render(data, { format: 'value', columns: ['Status'] }), 'ACTIVE\n')
  const show: ShowData = { kind: 'show', fields: { status: 'ACTIVE', name: 'db1', id: 'i1' } }
  t.equal(render(show, { format: 'value', columns: ['status', 'id'] }), 'i1\nACTIVE\n')
})

t.test('-c with no recognised name fails like cliff (list repr for lists, tuple for show)', async (t) => {
  const data: ListData = { kind: 'list', columns: ['ID', 'Name'], rows: [] }
  t.throws(() => render(data, { columns: ['x'] }), {
    constructor: OutputError,
    message: "No recognized column names in ['x']. Recognized columns are ['ID', 'Name'].",
    exitCode: 1,
  })
  const show: ShowData = { kind: 'show', fields: { name: 'db1', id: 'i1' } }
  t.throws(() => render(show, { columns: ['x', "it's"] }), {
    message: `No recognized column names in ['x', "it's"]. Recognized columns are ('id', 'name').`,
  })
  t.throws(() => render({ kind: 'show', fields: { id: 'i1' } }, { columns: ['x'] }), {
    message: "No recognized column names in ['x']. Recognized columns are ('id',).",
  })
})

t.test('a format the command kind does not offer is an argparse error (exit 2)', async (t) => {
  const list: ListData = { kind: 'list', columns: ['ID'], rows: [] }
  const show: ShowData = { kind: 'show', fields: {} }
  t.throws(() => render(list, { format: 'shell' }), {
    constructor: OutputError,
    message: "argument -f/--format: invalid choice: 'shell' (choose from 'csv', 'json', 'table', 'value', 'yaml')",
    exitCode: 2,
  })
  t.throws(() => render(show, { format: 'csv' }), {
    message: "argument -f/--format: invalid choice: 'csv' (choose from 'json', 'shell', 'table', 'value', 'yaml')",
    exitCode: 2,
  })
  t.throws(() => render(list, { format: 'csv', quote: 'some' as 'all' }), {
    message: "argument --quote: invalid choice: 'some' (choose from 'all', 'minimal', 'none', 'nonnumeric')",
    exitCode: 2,
  })
})

t.test('none and lines', async (t) => {
  t.equal(render({ kind: 'none' }, { format: 'json' }), '')
  t.equal(render({ kind: 'lines', lines: ['Request to delete database instance i1 has been accepted.', 'x'] }, {}), 'Request to delete database instance i1 has been accepted.\nx\n')
  t.equal(render({ kind: 'lines', lines: [] }), '')
})
