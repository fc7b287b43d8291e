import { Box, Text, useApp, useInput } from 'ink'
import { useEffect, useRef, useState } from 'react'
import { ageText, type TopRow, type TopSnapshot } from './data.js'

const STATUS_COLOR: Record<string, string> = { ACTIVE: 'green', ERROR: 'red', BUILD: 'yellow', SHUTDOWN: 'red', BACKUP: 'cyan', RESIZE: 'cyan', REBOOT: 'yellow', RESTART_REQUIRED: 'magenta' }

const pad = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s.padEnd(n))

// Fixed widths; the last column takes what is left and rows are cut at the terminal's edge.
const COLS: Array<[string, number, (r: TopRow) => string]> = [
  ['NAME', 14, (r) => r.name],
  ['STATUS', 10, (r) => r.status],
  ['DATASTORE', 14, (r) => r.datastore],
  ['ADDRESS', 15, (r) => r.address],
  ['FLAVOR', 6, (r) => r.flavor],
  ['VOLUME', 11, (r) => r.volume],
  ['BEAT', 5, (r) => ageText(r.heartbeatAgeS)],
  ['TASKS', 0, (r) => r.tasks],
]
const cell = (s: string, w: number) => (w === 0 ? s : pad(s, w))

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
      <Text bold>trove top — {rows.length} instance{rows.length === 1 ? '' : 's'}{p.filter ? ` matching '${p.filter}'` : ''} · {when} UTC · every {p.intervalS}s</Text>
      {p.error ? <Text color="red">{p.error}</Text> : null}
      {p.snapshot?.warnings.length ? <Text dimColor>{p.snapshot.warnings.join('; ')}</Text> : null}
      {p.detail ? <Detail row={p.detail} /> : <Table rows={rows} selected={p.selected} loading={!p.snapshot} />}
      {p.editingFilter
        ? <Text>filter: <Text color="cyan">{p.filter}</Text>█</Text>
        : <Text dimColor>{p.detail ? 'esc back · q quit' : '/ filter · ↑↓ select · enter details · q quit'}</Text>}
    </Box>
  )
}

function Table(p: { rows: TopRow[]; selected: number; loading: boolean }) {
  return (
    <Box flexDirection="column">
      <Text bold wrap="truncate-end">{COLS.map(([h, w]) => cell(h, w)).join(' ')}</Text>
      {p.loading ? <Text dimColor>loading…</Text> : p.rows.length === 0 ? <Text dimColor>no instances</Text> : null}
      {p.rows.map((r, i) => (
        <Text key={r.id} inverse={i === p.selected} wrap="truncate-end">
          {COLS.map(([h, w, f], j) => (
            <Text key={h} color={h === 'STATUS' ? STATUS_COLOR[r.status] : undefined}>{cell(f(r), w)}{j < COLS.length - 1 ? ' ' : ''}</Text>
          ))}
        </Text>
      ))}
    </Box>
  )
}

function Detail({ row }: { row: TopRow }) {
  const i = row.instance
  const fields: Array<[string, string]> = [
    ['id', i.id], ['name', i.name], ['status', i.status], ['operating status', i.operating_status ?? ''],
    ['datastore', row.datastore], ['address', row.address], ['flavor', row.flavor], ['volume', row.volume],
    ['last heartbeat', i.service_status_updated ? `${i.service_status_updated} (${ageText(row.heartbeatAgeS)} ago)` : '-'],
    ['created', i.created ?? ''], ['updated', i.updated ?? ''],
    ['configuration', i.configuration ? `${i.configuration.name} (${i.configuration.id})` : ''],
    ['replica of', i.replica_of?.id ?? ''], ['replicas', (i.replicas ?? []).map((r) => r.id).join(', ')],
    ['fault', i.fault?.message ?? ''], ['tasks', row.tasks],
  ]
  return (
    <Box flexDirection="column">
      {fields.filter(([, v]) => v !== '').map(([k, v]) => <Text key={k}><Text bold>{k.padEnd(18)}</Text>{v}</Text>)}
      <Text bold>backups ({row.backups.length})</Text>
      {row.backups.map((b) => <Text key={b.id}>  {pad(b.name, 20)} {pad(b.status, 10)} {b.updated ?? ''}</Text>)}
    </Box>
  )
}

/** Rows whose name, status, datastore or address contain the filter (case-insensitive). */
export function visibleRows(s: TopSnapshot | undefined, filter: string): TopRow[] {
  const f = filter.toLowerCase()
  return (s?.rows ?? []).filter((r) => !f || [r.name, r.status, r.datastore, r.address, r.id].some((x) => x.toLowerCase().includes(f)))
}

/** The interactive app: refreshes with `load` every intervalS seconds; keys as in TopView's help line. */
export function TopApp(p: { load: () => Promise<TopSnapshot>; intervalS: number; onExit?: () => void }) {
  const { exit } = useApp()
  const [snapshot, setSnapshot] = useState<TopSnapshot>()
  const [error, setError] = useState<string>()
  const [filter, setFilter] = useState('')
  const [editing, setEditing] = useState(false)
  const [selected, setSelected] = useState(0)
  const [detailId, setDetailId] = useState<string>()
  const alive = useRef(true)

  // biome-ignore lint/correctness/useExhaustiveDependencies: one polling loop for the view's life; load and interval are fixed props
  useEffect(() => {
    alive.current = true
    let timer: NodeJS.Timeout | undefined
    const tick = async () => {
      try {
        const s = await p.load()
        if (alive.current) { setSnapshot(s); setError(undefined) }
      } catch (e) {
        if (alive.current) setError(e instanceof Error ? e.message : String(e))
      }
      if (alive.current) timer = setTimeout(() => { void tick() }, p.intervalS * 1000)
    }
    void tick()
    return () => { alive.current = false; if (timer) clearTimeout(timer) }
  }, [])

  const rows = visibleRows(snapshot, filter)
  const detail = detailId ? snapshot?.rows.find((r) => r.id === detailId) : undefined
  const quit = () => { p.onExit?.(); exit() }

  useInput((input, key) => {
    if (editing) {
      if (key.return || key.escape) setEditing(false)
      else if (key.backspace || key.delete) setFilter((f) => f.slice(0, -1))
      else if (input && !key.ctrl && !key.meta) { setFilter((f) => f + input); setSelected(0) }
      return
    }
    if (input === 'q' || (key.ctrl && input === 'c')) return quit()
    if (detailId) { if (key.escape || key.backspace || key.leftArrow) setDetailId(undefined); return }
    if (input === '/') { setEditing(true); return }
    if (key.escape) { setFilter(''); return }
    if (key.upArrow || input === 'k') setSelected((s) => Math.max(0, s - 1))
    else if (key.downArrow || input === 'j') setSelected((s) => Math.min(Math.max(0, rows.length - 1), s + 1))
    else if (key.return && rows[selected]) setDetailId(rows[selected].id)
  })

  return <TopView snapshot={snapshot} error={error} filter={filter} editingFilter={editing} selected={Math.min(selected, Math.max(0, rows.length - 1))} detail={detail} intervalS={p.intervalS} />
}
