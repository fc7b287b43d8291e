import t from 'tap'
import { render, type ListData } from '../../../src/cli/output/index.js'

const data: ListData = {
  kind: 'list',
  columns: ['Name', 'Size', 'Status'],
  rows: [
    ['b', 2, 'ACTIVE'],
    ['a', null, 'BUILD'],
    ['c', 1, 'ACTIVE'],
    ['d', 2, 'ERROR'],
  ],
}

const names = (out: string): string =>
  out
    .trim()
    .split('\n')
    .map((l) => l.split(' ')[0])
    .join('')

t.test('sorts ascending by default, None last', async (t) => {
  t.equal(names(render(data, { format: 'value', sortColumns: ['Size'] })), 'cbda')
})

t.test('descending puts None first and keeps equal rows in their original order', async (t) => {
  t.equal(names(render(data, { format: 'value', sortColumns: ['Size'], sortDirection: 'desc' })), 'abdc')
})

t.test('the first sort column has priority; later ones break ties', async (t) => {
  t.equal(names(render(data, { format: 'value', sortColumns: ['Status', 'Name'], sortDirection: 'asc' })), 'bcad')
  t.equal(names(render(data, { format: 'value', sortColumns: ['Size', 'Status'] })), 'cbda')
  t.equal(names(render(data, { format: 'value', sortColumns: ['Size', 'Name'], sortDirection: 'desc' })), 'adbc')
})

t.test('unknown sort columns are ignored; sorting may use a column -c leaves out', async (t) => {
  t.equal(names(render(data, { format: 'value', sortColumns: ['nope'] })), 'bacd')
  t.equal(render(data, { format: 'value', columns: ['Status'], sortColumns: ['Name'] }), 'BUILD\nACTIVE\nACTIVE\nERROR\n')
})

t.test('strings sort by code point (upper case first)', async (t) => {
  const d: ListData = { kind: 'list', columns: ['N'], rows: [['b'], ['B'], ['a'], ['é']] }
  t.equal(render(d, { format: 'value', sortColumns: ['N'] }), 'B\na\nb\né\n')
})

t.test('a column of mixed types is left unsorted, like cliff (best effort)', async (t) => {
  const d: ListData = {
    kind: 'list',
    columns: ['N', 'M'],
    rows: [
      ['x', 2],
      [1, 1],
      ['y', 3],
    ],
  }
  t.equal(render(d, { format: 'value', sortColumns: ['N'] }), 'x 2\n1 1\ny 3\n')
  t.equal(render(d, { format: 'value', sortColumns: ['M', 'N'] }), '1 1\nx 2\ny 3\n', 'the sortable column still applies')
})

t.test('booleans compare as numbers, lists element by element', async (t) => {
  const d: ListData = { kind: 'list', columns: ['V'], rows: [[2], [true], [0.5], [false]] }
  t.equal(render(d, { format: 'value', sortColumns: ['V'] }), 'False\n0.5\nTrue\n2\n')
  const l: ListData = { kind: 'list', columns: ['V'], rows: [[['b']], [['a', 'z']], [['a']]] }
  t.equal(render(l, { format: 'value', sortColumns: ['V'] }), "['a']\n['a', 'z']\n['b']\n")
})
