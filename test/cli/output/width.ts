import t from 'tap'
import { formatDefaultsFromEnv, OutputError, render, type ListData, type ShowData } from '../../../src/cli/output/index.js'

const lines = (...l: string[]): string => l.join('\n') + '\n'

const data: ListData = {
  kind: 'list',
  columns: ['ID', 'Description'],
  rows: [['abc', 'the quick brown fox jumps over the lazy dog']],
}

const wrapped30 = lines(
  '+-----+----------------------+',
  '| ID  | Description          |',
  '+-----+----------------------+',
  '| abc | the quick brown fox  |',
  '|     | jumps over the lazy  |',
  '|     | dog                  |',
  '+-----+----------------------+',
)

t.test('--max-width wraps the columns wider than their fair share', async (t) => {
  t.equal(render(data, { maxWidth: 30 }), wrapped30)
  t.equal(render(data, { maxWidth: 53 }), render(data, {}), 'a table that fits is left alone')
  t.equal(render(data, { maxWidth: 0 }), render(data, {}), 'below 1 disables')
})

t.test('--fit-width fits to the terminal width; a TTY implies it; --max-width wins', async (t) => {
  t.equal(render(data, { fitWidth: true, terminalWidth: 30 }), wrapped30)
  t.equal(render(data, { stdoutIsTty: true, terminalWidth: 30 }), wrapped30)
  t.equal(render(data, { terminalWidth: 30 }), render(data, {}), 'no fitting without fit-width or a TTY')
  t.equal(render(data, { fitWidth: true }), render(data, {}), 'no terminal width, no fitting')
  t.equal(render(data, { fitWidth: true, terminalWidth: 200, maxWidth: 30 }), wrapped30)
})

t.test('list columns never shrink below 8; long words break at hyphens or anywhere', async (t) => {
  const d: ListData = {
    kind: 'list',
    columns: ['ID', 'Name'],
    rows: [['e6c2f5a0-1111-2222-3333-444455556666', 'averyveryverylongname']],
  }
  t.equal(
    render(d, { maxWidth: 10 }),
    lines(
      '+----------+----------+',
      '| ID       | Name     |',
      '+----------+----------+',
      '| e6c2f5a0 | averyver |',
      '| -1111-   | yverylon |',
      '| 2222-    | gname    |',
      '| 3333-    |          |',
      '| 44445555 |          |',
      '| 6666     |          |',
      '+----------+----------+',
    ),
  )
})

t.test('show tables keep at least 16 columns per side', async (t) => {
  const d: ShowData = { kind: 'show', fields: { description: 'one two three four five six seven eight', id: 'i1' } }
  t.equal(
    render(d, { maxWidth: 20 }),
    lines(
      '+-------------+------------------+',
      '| Field       | Value            |',
      '+-------------+------------------+',
      '| description | one two three    |',
      '|             | four five six    |',
      '|             | seven eight      |',
      '| id          | i1               |',
      '+-------------+------------------+',
    ),
  )
})

t.test('an empty list with --max-width still prints only a newline', async (t) => {
  t.equal(render({ kind: 'list', columns: ['ID'], rows: [] }, { maxWidth: 5 }), '\n')
})

t.test('CLIFF_MAX_TERM_WIDTH and CLIFF_FIT_WIDTH defaults', async (t) => {
  t.same(formatDefaultsFromEnv({}), {})
  t.same(formatDefaultsFromEnv({ CLIFF_MAX_TERM_WIDTH: '80', CLIFF_FIT_WIDTH: '1' }), { maxWidth: 80, fitWidth: true })
  t.same(formatDefaultsFromEnv({ CLIFF_MAX_TERM_WIDTH: '', CLIFF_FIT_WIDTH: '0' }), { fitWidth: false })
  t.throws(() => formatDefaultsFromEnv({ CLIFF_MAX_TERM_WIDTH: 'wide' }), {
    constructor: OutputError,
    message: "invalid CLIFF_MAX_TERM_WIDTH 'wide': expected an integer",
  })
  t.throws(() => formatDefaultsFromEnv({ CLIFF_FIT_WIDTH: 'yes' }), {
    message: "invalid CLIFF_FIT_WIDTH 'yes': expected an integer",
  })
})
