import { type ArchiveStart, archiveHoleText } from '../../protocol/index.js'

/**
 * The restore window of an archive (issue 15 item 4), from what the store holds: the
 * base backups with their ArchiveStart (from their metas), the complete segments (from
 * their sidecars, and whether the segment file is still there) and the newest time the
 * agent said the archive holds. Pure: the caller reads the store (archive-store.ts).
 */

/** A backup a restore can start from. */
export interface BaseBackup {
  id: string
  start: ArchiveStart
}

/** A complete segment as its sidecar describes it; `present`: its file is in the archive. */
export interface SealedSegment {
  seq: number
  last_time: string | null
  present: boolean
}

export interface WindowInput {
  bases: BaseBackup[]
  segments: SealedSegment[]
  /** ArchiveStatus.latest_time as last reported (everything committed up to it is archived). */
  latestTime: string | null
  /**
   * The gap the agent last reported (ArchiveStatus.detail with state 'gap'), if any: it sees
   * a hole in the archive's files as soon as it is made, before the store's view has it.
   */
  agentGap?: string | null
}

/** How far a restore from one base backup can go. */
interface Reach {
  base: BaseBackup
  /** Latest time (epoch ms) a restore from this base reaches. */
  until: number
  /** The hole that stops it, if any. */
  hole?: { from: number; to: number }
}

export interface ArchiveWindow {
  earliest: string | null
  latest: string | null
  /** The first hole after the newest base backup, as a sentence, if any. */
  gap: string | null
}

const ms = (iso: string): number => Date.parse(iso)
const iso = (t: number): string => new Date(t).toISOString()

/** For each base: the time its restores reach, which a hole in the sequence after its start cuts short. */
function reaches(input: WindowInput): Reach[] {
  const present = new Map<number, SealedSegment>()
  for (const s of input.segments) if (s.present) present.set(s.seq, s)
  const known = input.segments.map((s) => s.seq)
  const maxSeq = known.length ? Math.max(...known) : -1
  const latest = input.latestTime ? ms(input.latestTime) : Math.max(-Infinity, ...[...present.values()].map((s) => (s.last_time ? ms(s.last_time) : -Infinity)))
  const out: Reach[] = []
  for (const base of input.bases) {
    const start = ms(base.start.time)
    let hole: Reach['hole']
    for (let seq = base.start.seq; seq <= maxSeq; seq++) {
      if (present.has(seq)) continue
      let to = seq
      while (to + 1 <= maxSeq && !present.has(to + 1)) to++
      hole = { from: seq, to }
      break
    }
    if (!hole) {
      out.push({ base, until: Math.max(start, latest) })
      continue
    }
    // Up to the last commit before the hole (the base's own point at least).
    const before = present.get(hole.from - 1)?.last_time
    out.push({ base, until: Math.max(start, before ? ms(before) : start), hole })
  }
  return out
}

/** earliest/latest restorable times and the gap, if any (nulls: nothing restorable). */
export function archiveWindow(input: WindowInput): ArchiveWindow {
  const r = reaches(input)
  if (!r.length) return { earliest: null, latest: null, gap: null }
  const earliest = Math.min(...r.map((x) => ms(x.base.start.time)))
  const latest = Math.max(...r.map((x) => x.until))
  const newest = r.reduce((a, b) => (ms(b.base.start.time) > ms(a.base.start.time) ? b : a))
  return { earliest: iso(earliest), latest: iso(latest), gap: newest.hole ? archiveHoleText(newest.hole) : null }
}

export type BaseChoice = { ok: true; base: BaseBackup } | { ok: false; message: string }

/**
 * The base backup for a restore to `target` (a time, or 'latest'): the newest one that
 * starts at or before the time and whose archive reaches it with no hole. Refusals name
 * the window. `now` (epoch ms) refuses a time in the future.
 */
export function chooseBase(input: WindowInput, target: { time: string } | 'latest', now: number): BaseChoice {
  const w = archiveWindow(input)
  const window = w.earliest ? `the restorable window is ${w.earliest} to ${w.latest}` : 'nothing is restorable yet (no backup taken while archiving was on)'
  const r = reaches(input).sort((a, b) => ms(b.base.start.time) - ms(a.base.start.time))
  if (target === 'latest') {
    const newest = r[0]
    if (!newest) return { ok: false, message: `Cannot restore to the latest time: ${window}.` }
    const gap = newest.hole ? archiveHoleText(newest.hole) : input.agentGap
    if (gap) return { ok: false, message: `Cannot restore to the latest time: the archive has a gap (${gap}); ${window}.` }
    return { ok: true, base: newest.base }
  }
  const t = ms(target.time)
  if (t > now) return { ok: false, message: `Restore time ${target.time} is in the future; ${window}.` }
  if (!w.earliest || t < ms(w.earliest)) return { ok: false, message: `Restore time ${target.time} is before the restorable window; ${window}.` }
  const fit = r.find((x) => ms(x.base.start.time) <= t && x.until >= t)
  if (fit) return { ok: true, base: fit.base }
  const cut = r.find((x) => ms(x.base.start.time) <= t && x.hole)
  if (cut?.hole) return { ok: false, message: `Restore time ${target.time} is past a gap in the archive (${archiveHoleText(cut.hole)}); ${window}.` }
  return { ok: false, message: `Restore time ${target.time} is after the latest restorable time; ${window}.` }
}
