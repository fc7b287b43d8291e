// The restore window and the base-backup choice (backups/archive-window.ts): pure, and the
// sidecar reading (backups/archive-store.ts) against a fake store directory.
import t from 'tap'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { archiveHoleText } from '../../../src/protocol/index.js'
import { archiveWindow, chooseBase, type BaseBackup, type SealedSegment, type WindowInput } from '../../../src/server/backups/archive-window.js'
import { readSidecars } from '../../../src/server/backups/archive-store.js'

const base = (id: string, seq: number, time: string): BaseBackup => ({ id, start: { seq, position: `1/${seq}000000`, time: `2026-12-05T${time}Z` } })
const seg = (seq: number, last: string | null, present = true): SealedSegment => ({ seq, last_time: last && `2026-12-05T${last}Z`, present })
const now = Date.parse('2026-12-05T12:00:00Z')
const at = (time: string) => ({ time: `2026-12-05T${time}Z` })

const input: WindowInput = {
  bases: [base('b1', 2, '10:00:00'), base('b2', 5, '11:00:00')],
  segments: [seg(1, '09:59:00'), seg(2, '10:10:00'), seg(3, '10:30:00'), seg(4, '10:59:00'), seg(5, '11:10:00'), seg(6, '11:20:00')],
  latestTime: '2026-12-05T11:30:00.000Z',
}

t.test('window: earliest base start to the latest archived time', async (t) => {
  t.same(archiveWindow(input), { earliest: '2026-12-05T10:00:00.000Z', latest: '2026-12-05T11:30:00.000Z', gap: null })
  t.same(archiveWindow({ ...input, bases: [] }), { earliest: null, latest: null, gap: null }, 'no base backup: nothing restorable')
  t.same(archiveWindow({ ...input, latestTime: null }).latest, '2026-12-05T11:20:00.000Z', 'no reported time: the newest sealed commit')
})

t.test('choice: the newest base at or before the time whose archive reaches it', async (t) => {
  t.match(chooseBase(input, at('10:30:00'), now), { ok: true, base: { id: 'b1' } }, 'between the bases: the older one')
  t.match(chooseBase(input, at('11:00:00'), now), { ok: true, base: { id: 'b2' } }, 'at the newer base start (inclusive)')
  t.match(chooseBase(input, at('11:29:59'), now), { ok: true, base: { id: 'b2' } })
  t.match(chooseBase(input, 'latest', now), { ok: true, base: { id: 'b2' } }, 'latest: the newest base')
})

t.test('refusals name the window', async (t) => {
  t.same(chooseBase(input, at('12:00:01'), now), {
    ok: false,
    message: 'Restore time 2026-12-05T12:00:01Z is in the future; the restorable window is 2026-12-05T10:00:00.000Z to 2026-12-05T11:30:00.000Z.',
  })
  t.same(chooseBase(input, at('09:59:59'), now), {
    ok: false,
    message: 'Restore time 2026-12-05T09:59:59Z is before the restorable window; the restorable window is 2026-12-05T10:00:00.000Z to 2026-12-05T11:30:00.000Z.',
  })
  t.same(chooseBase(input, at('11:45:00'), now), {
    ok: false,
    message: 'Restore time 2026-12-05T11:45:00Z is after the latest restorable time; the restorable window is 2026-12-05T10:00:00.000Z to 2026-12-05T11:30:00.000Z.',
  })
  t.same(chooseBase({ ...input, bases: [] }, 'latest', now), { ok: false, message: 'Cannot restore to the latest time: nothing is restorable yet (no backup taken while archiving was on).' })
})

t.test('gaps: a missing segment file, or a hole in the sequence', async (t) => {
  // Segment 3's file was deleted (its sidecar is still there): b1 reaches only to the end of segment 2.
  const missing = { ...input, segments: input.segments.map((s) => (s.seq === 3 ? { ...s, present: false } : s)) }
  t.match(chooseBase(missing, at('10:05:00'), now), { ok: true, base: { id: 'b1' } }, 'before the hole: fine')
  t.same(chooseBase(missing, at('10:45:00'), now), {
    ok: false,
    message: 'Restore time 2026-12-05T10:45:00Z is past a gap in the archive (segment 3 is missing from the archive); the restorable window is 2026-12-05T10:00:00.000Z to 2026-12-05T11:30:00.000Z.',
  })
  t.match(chooseBase(missing, at('11:15:00'), now), { ok: true, base: { id: 'b2' } }, 'after the hole from the newer base: fine')
  t.equal(archiveWindow(missing).gap, null, 'the newest base is not cut: no gap shown')
  // Segments 5 and 6 gone altogether (no sidecar), segment 7 there: the newest base is cut.
  const hole = { ...input, segments: [...input.segments.filter((s) => s.seq < 5), seg(7, '11:25:00')] }
  t.equal(archiveWindow(hole).gap, 'segments 5 to 6 are missing from the archive')
  t.same(chooseBase(hole, 'latest', now), {
    ok: false,
    message: 'Cannot restore to the latest time: the archive has a gap (segments 5 to 6 are missing from the archive); the restorable window is 2026-12-05T10:00:00.000Z to 2026-12-05T11:00:00.000Z.',
  })
  // The agent saw a hole the store's view has not caught up with: the same sentence, its
  // wording (one for both, protocol's archiveHoleText), the window as the store has it.
  const seen = { ...input, agentGap: archiveHoleText({ from: 6, to: 6 }) }
  t.same(chooseBase(seen, 'latest', now), {
    ok: false,
    message: 'Cannot restore to the latest time: the archive has a gap (segment 6 is missing from the archive); the restorable window is 2026-12-05T10:00:00.000Z to 2026-12-05T11:30:00.000Z.',
  })
  t.match(chooseBase(seen, at('11:15:00'), now), { ok: true, base: { id: 'b2' } }, 'a time is still judged on the sealed segments')
  t.same(chooseBase(hole, 'latest', now), chooseBase({ ...hole, agentGap: 'segment 9 is missing from the archive' }, 'latest', now), 'a hole the store sees is named by it')
})

t.test('a deleted source: the same answers from what the store holds', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tv-arch-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const names = ['000000010000000000000002', '000000010000000000000003', '000000010000000000000004']
  names.forEach((n, i) => {
    writeFileSync(join(dir, `${n}.seg.json`), JSON.stringify({ name: n, seq: i + 2, sha256: 'x', bytes: 1, first_time: null, last_time: `2026-12-05T10:0${i}:00Z` }))
    if (i !== 1) writeFileSync(join(dir, n), 'wal')
  })
  writeFileSync(join(dir, 'garbage.seg.json'), '{not json')
  const segments = readSidecars(dir).sort((a, b) => a.seq - b.seq)
  t.same(
    segments.map((s) => [s.seq, s.present]),
    [
      [2, true],
      [3, false],
      [4, true],
    ],
    'sidecars read; the deleted segment file is a hole; garbage is left out',
  )
  const w = { bases: [base('b', 2, '09:59:00')], segments, latestTime: '2026-12-05T10:05:00Z' }
  t.equal(archiveWindow(w).gap, 'segment 3 is missing from the archive')
  t.same(readSidecars(join(dir, 'nope')), [], 'no archive directory: no segments')
})
