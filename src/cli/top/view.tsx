import { Box, Text, useApp, useInput } from 'ink'
import { useEffect, useRef, useState } from 'react'
import { ageText, type TopRow, type TopSnapshot } from './data.js'

const STATUS_COLOR: Record<string, string> = { ACTIVE: 'green', ERROR: 'red', BUILD: 'yellow', SHUTDOWN: 'red', BACKUP: 'cyan', RESIZE: 'cyan', REBOOT: 'yellow', RESTART_REQUIRED: 'magenta' }

const pad = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s.padEnd(n))

// Each column is as wide as its widest value (at least its minimum; a name is cut at 32), so a
// datastore or flavor name shows whole; the last column takes what is left and rows are cut at
// the terminal's edge.
const COLS: Array<[string, number, (r: TopRow) => string, number?]> = [
  ['NAME', 14, (r) => r.name, 32],
  ['STATUS', 10, (r) => r.status],
  ['DATASTORE', 14, (r) => r.datastore],
  ['ADDRESS', 15, (r) => r.address],
  ['FLAVOR', 6, (r) => r.flavor],
  ['VOLUME', 11, (r) => r.volume],
  ['BEAT', 5, (r) => ageText(r.heartbeatAgeS)],
  ['TASKS', 0, (r) => r.tasks],
]
const cell = (s: string, w: number) => (w === 0 ? s : pad(s, w))

/** The width of each column for these rows (0 for the last: unpadded). */
function widths(rows: TopRow[]): number[] {
  return COLS.map(([h, min, f, max], j) => {
    if (j === COLS.length - 1) return 0
    const widest = Math.max(min, h.length, ...rows.map((r) => f(r).length))
    return max ? Math.min(widest, max) : widest
  })
}

/** What the view shows; pure, so tests render it with fixed data. */
export interface TopViewProps {
  snapshot?: TopSnapshot
  error?: string
  filter: string
  editingFilter: boolean
  selected: number
  detail?: TopRow
  intervalS: number
}

/** The instance table (or one instance's details) with a header and a key help line. */
export function TopView(p: TopViewProps) {
  const rows = visibleRows(p.snapshot, p.filter)
  const when = p.snapshot ? new Date(p.snapshot.at).toISOString().slice(11, 19) : '--:--:--'
  return (
    <Box flexDirection="column">
      <Text bold>
        trove top — {rows.length} instance{rows.length === 1 ? '' : 's'}
        {p.filter ? ` matching '${p.filter}'` : ''} · {when} UTC · every {p.intervalS}s
      </Text>
      {p.error ? <Text color="red">{p.error}</Text> : null}
      {p.snapshot?.warnings.length ? <Text dimColor>{p.snapshot.warnings.join('; ')}</Text> : null}
      {p.detail ? <Detail row={p.detail} /> : <Table rows={rows} selected={p.selected} loading={!p.snapshot} />}
      {p.editingFilter ? (
        <Text>
          filter: <Text color="cyan">{p.filter}</Text>█
        </Text>
      ) : (
        <Text dimColor>{p.detail ? 'esc back · q quit' : '/ filter · ↑↓ select · enter details · q quit'}</Text>
      )}
    </Box>
  )
}

function Table(p: { rows: TopRow[]; selected: number; loading: boolean }) {
  const w = widths(p.rows)
  return (
    <Box flexDirection="column">
      <Text bold wrap="truncate-end">
        {COLS.map(([h], j) => cell(h, w[j]!)).join(' ')}
      </Text>
      {p.loading ? <Text dimColor>loading…</Text> : p.rows.length === 0 ? <Text dimColor>no instances</Text> : null}
      {p.rows.map((r, i) => (
        <Text key={r.id} inverse={i === p.selected} wrap="truncate-end">
          {COLS.map(([h, , f], j) => (
            <Text key={h} color={h === 'STATUS' ? STATUS_COLOR[r.status] : undefined}>
              {cell(f(r), w[j]!)}
              {j < COLS.length - 1 ? ' ' : ''}
            </Text>
          ))}
        </Text>
      ))}
    </Box>
  )
}

function Detail({ row }: { row: TopRow }) {
  const i = row.instance
  const fields: Array<[string, string]> = [
    ['id', i.id],
    ['name', i.name],
    ['status', i.status],
    ['operating status', i.operating_status ?? ''],
    ['datastore', row.datastore],
    ['address', row.address],
    ['flavor', row.flavor],
    ['volume', row.volume],
    ['last heartbeat', i.service_status_updated ? `${i.service_status_updated} (${ageText(row.heartbeatAgeS)} ago)` : '-'],
    ['created', i.created ?? ''],
    ['updated', i.updated ?? ''],
    ['configuration', i.configuration ? `${i.configuration.name} (${i.configuration.id})` : ''],
    ['replica of', i.replica_of?.id ?? ''],
    ['replicas', (i.replicas ?? []).map((r) => r.id).join(', ')],
    ['fault', i.fault?.message ?? ''],
    ['tasks', row.tasks],
  ]
  return (
    <Box flexDirection="column">
      {fields
        .filter(([, v]) => v !== '')
        .map(([k, v]) => (
          <Text key={k}>
            <Text bold>{k.padEnd(18)}</Text>
            {v}
          </Text>
        ))}
      <Text bold>backups ({row.backups.length})</Text>
      {row.backups.map((b) => (
        <Text key={b.id}>
          {' '}
          {pad(b.name, 20)} {pad(b.status, 10)} {b.updated ?? ''}
        </Text>
      ))}
    </Box>
  )
}

/** Rows whose name, status, datastore or address contain the filter (case-insensitive). */
export function visibleRows(s: TopSnapshot | undefined, filter: string): TopRow[] {
  const f = filter.toLowerCase()
  return (s?.rows ?? []).filter((r) => !f || [r.name, r.status, r.datastore, r.address, r.id].some((x) => x.toLowerCase().includes(f)))
}

/** What the keys act on: the filter, whether it is being typed, the selected row and the open details. */
export interface TopKeyState {
  filter: string
  editing: boolean
  selected: number
  detailId?: string
}

/** The key subset the app reads (ink's Key has more). */
export interface TopKey {
  return?: boolean
  escape?: boolean
  backspace?: boolean
  delete?: boolean
  ctrl?: boolean
  meta?: boolean
  upArrow?: boolean
  downArrow?: boolean
  leftArrow?: boolean
}

/** One keypress: the next state, or 'quit'. Pure, so keys arriving in one burst each see the state the previous one left. */
export function topKey(u: TopKeyState, snapshot: TopSnapshot | undefined, input: string, key: TopKey): TopKeyState | 'quit' {
  if (u.editing) {
    if (key.return || key.escape) return { ...u, editing: false }
    if (key.backspace || key.delete) return { ...u, filter: u.filter.slice(0, -1) }
    if (input && !key.ctrl && !key.meta) return { ...u, filter: u.filter + input, selected: 0 }
    return u
  }
  if (input === 'q' || (key.ctrl && input === 'c')) return 'quit'
  if (u.detailId) return key.escape || key.backspace || key.leftArrow ? { ...u, detailId: undefined } : u
  if (input === '/') return { ...u, editing: true }
  if (key.escape) return { ...u, filter: '' }
  const rows = visibleRows(snapshot, u.filter)
  const at = Math.min(u.selected, Math.max(0, rows.length - 1))
  if (key.upArrow || input === 'k') return { ...u, selected: Math.max(0, at - 1) }
  if (key.downArrow || input === 'j') return { ...u, selected: Math.min(Math.max(0, rows.length - 1), at + 1) }
  if (key.return && rows[at]) return { ...u, detailId: rows[at].id }
  return u
}

/** The interactive app: refreshes with `load` every intervalS seconds; keys as in TopView's help line. */
export function TopApp(p: { load: () => Promise<TopSnapshot>; intervalS: number; onExit?: () => void }) {
  const { exit } = useApp()
  const [snapshot, setSnapshot] = useState<TopSnapshot>()
  const [error, setError] = useState<string>()
  const [ui, setUi] = useState<TopKeyState>({ filter: '', editing: false, selected: 0 })
  // ink hands every key of one input chunk to the same handler before React re-renders: keys act
  // on these refs (the latest state), never on the values this render closed over.
  const uiNow = useRef(ui)
  const snapshotNow = useRef(snapshot)
  const alive = useRef(true)

  // biome-ignore lint/correctness/useExhaustiveDependencies: one polling loop for the view's life; load and interval are fixed props
  useEffect(() => {
    alive.current = true
    let timer: NodeJS.Timeout | undefined
    const tick = async () => {
      try {
        const s = await p.load()
        if (alive.current) {
          snapshotNow.current = s
          setSnapshot(s)
          setError(undefined)
        }
      } catch (e) {
        if (alive.current) setError(e instanceof Error ? e.message : String(e))
      }
      if (alive.current)
        timer = setTimeout(() => {
          void tick()
        }, p.intervalS * 1000)
    }
    void tick()
    return () => {
      alive.current = false
      if (timer) clearTimeout(timer)
    }
  }, [])

  const rows = visibleRows(snapshot, ui.filter)
  const detail = ui.detailId ? snapshot?.rows.find((r) => r.id === ui.detailId) : undefined

  useInput((input, key) => {
    const next = topKey(uiNow.current, snapshotNow.current, input, key)
    if (next === 'quit') {
      p.onExit?.()
      exit()
      return
    }
    uiNow.current = next
    setUi(next)
  })

  return (
    <TopView snapshot={snapshot} error={error} filter={ui.filter} editingFilter={ui.editing} selected={Math.min(ui.selected, Math.max(0, rows.length - 1))} detail={detail} intervalS={p.intervalS} />
  )
}
