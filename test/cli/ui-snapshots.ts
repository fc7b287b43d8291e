import t from 'tap'
import { createElement } from 'react'
import { render } from 'ink-testing-library'
import { WaitView } from '../../src/cli/ui/wait-view.js'
import { TopApp, TopView } from '../../src/cli/top/view.js'
import { snapshotTable, toRow, type TopSnapshot } from '../../src/cli/top/data.js'
import type { Instance } from '../../src/sdk/index.js'
import { render as renderData } from '../../src/cli/output/index.js'

// eslint-disable-next-line no-control-regex
const plain = (s: string | undefined) => (s ?? '').replace(/\x1b\[[0-9;]*m/g, '')
/**
 * Waits until the predicate holds: ink renders asynchronously and the machine may be busy, so
 * no fixed delay and no deadline of our own (tap's timeout ends a test that never gets there).
 */
async function until(pred: () => boolean): Promise<boolean> {
  while (!pred()) await new Promise((r) => setTimeout(r, 5))
  return true
}

const NOW = Date.parse('2026-11-25T10:00:00Z')
const inst = (over: Partial<Instance>): Instance => ({
  id: '00000000-0000-0000-0000-000000000001',
  name: 'db1',
  status: 'ACTIVE',
  operating_status: 'HEALTHY',
  links: [],
  flavor: { id: '1' },
  datastore: { type: 'postgresql', version: '15' },
  region: 'RegionOne',
  volume: { size: 1, used: 0.03 },
  addresses: [{ address: '127.0.0.2', type: 'private' }],
  service_status_updated: '2026-11-25T09:59:56',
  created: '2026-11-25T09:00:00',
  updated: '2026-11-25T09:00:05',
  ...over,
})
const snapshot: TopSnapshot = {
  at: NOW,
  warnings: [],
  rows: [
    toRow(inst({}), [{ id: 'b1', name: 'nightly', status: 'BUILDING', instance_id: '00000000-0000-0000-0000-000000000001', updated: '2026-11-25T09:59:00' }], NOW),
    toRow(
      inst({
        id: '00000000-0000-0000-0000-000000000002',
        name: 'cache',
        status: 'BUILD',
        datastore: { type: 'redis', version: '7' },
        volume: { size: 2 },
        service_status_updated: undefined,
        addresses: [{ address: '127.0.0.3', type: 'private' }],
      }),
      [],
      NOW,
    ),
  ],
}

t.test('wait view frames', async (t) => {
  const view = render(createElement(WaitView, { label: 'instance db1 (42)', status: 'BUILD', detail: 'booting', elapsedMs: 1234, frame: 2 }))
  t.equal(plain(view.lastFrame()), '⠹ instance db1 (42) BUILD booting 1.2s')
  view.rerender(createElement(WaitView, { label: 'instance db1 (42)', status: 'ACTIVE', elapsedMs: 9876, frame: 0, done: true }))
  t.equal(plain(view.lastFrame()), '✔ instance db1 (42) ACTIVE 9.9s')
  view.rerender(createElement(WaitView, { label: 'instance db1 (42)', status: 'ERROR', elapsedMs: 500, frame: 0 }))
  t.equal(plain(view.lastFrame()), '✖ instance db1 (42) ERROR 0.5s', 'a failed wait ends on ✖, not a spinner frame')
  view.rerender(createElement(WaitView, { label: 'instance db1 (42)', status: 'cancelled', elapsedMs: 500, frame: 3 }))
  t.equal(plain(view.lastFrame()), '✖ instance db1 (42) cancelled 0.5s')
  view.unmount()
})

t.test('trove top view: table, filter, selection and details', async (t) => {
  const frame = plain(render(createElement(TopView, { snapshot, filter: '', editingFilter: false, selected: 0, intervalS: 5 })).lastFrame())
  t.equal(
    frame,
    [
      'trove top — 2 instances · 10:00:00 UTC · every 5s',
      'NAME           STATUS     DATASTORE      ADDRESS         FLAVOR VOLUME      BEAT  TASKS',
      'db1            ACTIVE     postgresql 15  127.0.0.2       1      0.03/1 GB   4s    backup nightly BU…',
      'cache          BUILD      redis 7        127.0.0.3       1      -/2 GB      -     BUILD',
      '/ filter · ↑↓ select · enter details · q quit',
    ].join('\n'),
    'rows cut at the 100-column edge, not wrapped',
  )
  const filtered = plain(render(createElement(TopView, { snapshot, filter: 'redis', editingFilter: true, selected: 0, intervalS: 5 })).lastFrame())
  t.match(filtered, /^trove top — 1 instance matching 'redis'/)
  t.notMatch(filtered, /db1/)
  t.match(filtered, /filter: redis█$/)
})

t.test('trove top app: keys drive the view; refreshes with load()', async (t) => {
  let loads = 0
  let exited = false
  const app = render(
    createElement(TopApp, {
      load: async () => {
        loads++
        return snapshot
      },
      intervalS: 0.05,
      onExit: () => {
        exited = true
      },
    }),
  )
  const frame = () => plain(app.lastFrame())
  t.ok(await until(() => /db1 .*\n.*cache/.test(frame())), 'the table after the first load')
  t.ok(await until(() => loads >= 3), `refreshed (${loads} loads)`)
  // Keys act on the state the previous key left, rendered or not (the burst test below): no wait between them.
  app.stdin.write('\u001B[B') // down
  app.stdin.write('\r') // enter: details of the selected row
  t.ok(await until(() => /name\s+cache/.test(frame())), 'enter opens the selected (second) instance')
  const detail = frame()
  t.match(detail, /id\s+00000000-0000-0000-0000-000000000002/)
  t.match(detail, /backups \(0\)/)
  t.match(detail, /esc back · q quit$/)
  app.stdin.write('\u001B') // esc: back to the table
  t.ok(await until(() => /^NAME /m.test(frame())), 'esc goes back')
  app.stdin.write('/')
  t.ok(await until(() => /filter: █/.test(frame())), '/ starts the filter')
  for (const c of 'pg') {
    app.stdin.write(c)
    await until(() => frame().includes(`${c}█`))
  }
  app.stdin.write('\u007F') // backspace
  await until(() => /filter: p█/.test(frame()))
  app.stdin.write('o')
  t.ok(await until(() => /filter: po█/.test(frame())), 'typing edits the filter')
  app.stdin.write('\r')
  t.ok(await until(() => /1 instance matching 'po'/.test(frame()) && /select/.test(frame())))
  const filtered = frame()
  t.match(filtered, /^db1 /m)
  t.notMatch(filtered, /^cache /m)
  app.stdin.write('q')
  t.ok(await until(() => exited), 'q quits')
  app.unmount()
})

t.test('trove top app: keys of one burst act in order (a fast typist, a paste, a busy terminal)', async (t) => {
  const app = render(createElement(TopApp, { load: async () => snapshot, intervalS: 60 }))
  const frame = () => plain(app.lastFrame())
  await until(() => /db1 .*\n.*cache/.test(frame()))
  app.stdin.write('\u001B[B\r') // down and enter in one chunk: enter opens the row down selected
  t.ok(await until(() => /name\s+(cache|db1)\b/.test(frame())))
  t.match(frame(), /name\s+cache/, 'the second instance, not the first')
  app.stdin.write('\u001B[D\u001B[A\r') // back (left), up, enter: the first row's details
  t.ok(await until(() => /name\s+db1\b/.test(frame())), 'back, up and enter, in order')
  app.unmount()
})

t.test('trove top off a terminal: one snapshot table', async (t) => {
  const text = renderData(snapshotTable(snapshot), { format: 'value' })
  t.equal(text, 'db1 ACTIVE postgresql 15 127.0.0.2 1 0.03/1 GB 4s backup nightly BUILDING\ncache BUILD redis 7 127.0.0.3 1 -/2 GB - BUILD\n')
})

t.test('trove top: flavor names (not ids) and whole datastore names, columns as wide as they need', async (t) => {
  const names = new Map([
    ['1', 'm1.tiny'],
    ['4', 'm1.xlarge'],
  ])
  const wide: TopSnapshot = {
    at: NOW,
    warnings: [],
    rows: [
      toRow(inst({ datastore: { type: 'mariadb', version: '10.11' } }), [], NOW, names),
      toRow(inst({ id: '00000000-0000-0000-0000-000000000003', name: 'big', flavor: { id: '4' }, datastore: { type: 'postgresql', version: '15-custom' } }), [], NOW, names),
      toRow(inst({ id: '00000000-0000-0000-0000-000000000004', name: 'odd', flavor: { id: '99' } }), [], NOW, names),
    ],
  }
  const frame = plain(render(createElement(TopView, { snapshot: wide, filter: '', editingFilter: false, selected: 0, intervalS: 5 })).lastFrame())
  t.equal(
    frame.split('\n').slice(1, 5).join('\n'),
    [
      'NAME           STATUS     DATASTORE            ADDRESS         FLAVOR    VOLUME      BEAT  TASKS',
      'db1            ACTIVE     mariadb 10.11        127.0.0.2       m1.tiny   0.03/1 GB   4s',
      'big            ACTIVE     postgresql 15-custom 127.0.0.2       m1.xlarge 0.03/1 GB   4s',
      'odd            ACTIVE     postgresql 15        127.0.0.2       99        0.03/1 GB   4s',
    ].join('\n'),
  )
  t.equal(renderData(snapshotTable(wide), { format: 'value' }).split('\n')[1], 'big ACTIVE postgresql 15-custom 127.0.0.2 m1.xlarge 0.03/1 GB 4s ')
})
