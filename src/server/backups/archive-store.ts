import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { BACKUP_META_SUFFIX, SEGMENT_SIDECAR_SUFFIX, archiveDirOf, type ArchiveSegment, type ArchiveStart, type ArchiveStatus } from '../../protocol/index.js'
import type { Lab } from '../lab.js'
import { archiveStore } from '../db/archives.js'
import { backupStore, RESTORABLE_STATES } from '../db/backups.js'
import { scheduleStore } from '../db/backup-schedules.js'
import { archiveWindow, type BaseBackup, type SealedSegment, type WindowInput } from './archive-window.js'

/** Sidecars per archive directory, read again only when the directory changed (its mtime). */
const sidecarCache = new Map<string, { mtimeMs: number; segments: Array<SealedSegment & { name: string }> }>()

/** The complete segments of an archive directory, from their sidecars (unreadable ones are left out: a hole). */
export function readSidecars(dir: string): Array<SealedSegment & { name: string }> {
  const st = statSync(dir, { throwIfNoEntry: false })
  if (!st) return []
  const cached = sidecarCache.get(dir)
  if (cached && cached.mtimeMs === st.mtimeMs) return cached.segments
  const names = new Set(readdirSync(dir))
  const segments: Array<SealedSegment & { name: string }> = []
  for (const n of names) {
    if (!n.endsWith(SEGMENT_SIDECAR_SUFFIX)) continue
    try {
      const s = JSON.parse(readFileSync(join(dir, n), 'utf8')) as ArchiveSegment
      if (!Number.isSafeInteger(s.seq) || typeof s.name !== 'string') continue
      segments.push({ name: s.name, seq: s.seq, last_time: typeof s.last_time === 'string' ? s.last_time : null, present: names.has(n.slice(0, -SEGMENT_SIDECAR_SUFFIX.length)) })
    } catch {
      /* a sidecar being replaced, or garbage: not counted */
    }
  }
  sidecarCache.set(dir, { mtimeMs: st.mtimeMs, segments })
  return segments
}

/** A backup's ArchiveStart from its meta file (undefined: taken without one, e.g. Redis). */
function archiveStartOf(location: string, id: string): ArchiveStart | undefined {
  try {
    const meta = JSON.parse(readFileSync(join(dirname(location), `${id}${BACKUP_META_SUFFIX}`), 'utf8')) as { archive?: ArchiveStart }
    const a = meta.archive
    return a && Number.isSafeInteger(a.seq) && typeof a.time === 'string' && !Number.isNaN(Date.parse(a.time)) ? a : undefined
  } catch {
    return undefined
  }
}

/** The archive directory of an instance in the lab's store. */
export const archiveDir = (lab: Lab, instanceId: string): string => archiveDirOf(lab.compute.backupsDir, instanceId)

/** What the window of an instance's archive is computed from (archive-window.ts). */
export function windowInput(lab: Lab, instanceId: string): WindowInput & { backups: Map<string, string> } {
  const backups = backupStore(lab.db)
  const bases: BaseBackup[] = []
  const locations = new Map<string, string>()
  for (const row of scheduleStore(lab.db).liveBackups(instanceId)) {
    if (!RESTORABLE_STATES.includes(row.state)) continue
    const b = backups.get(row.id)
    if (!b?.location || !existsSync(b.location)) continue
    const start = archiveStartOf(b.location, b.id)
    if (start) {
      bases.push({ id: b.id, start })
      locations.set(b.id, b.location)
    }
  }
  return { bases, segments: readSidecars(archiveDir(lab, instanceId)), latestTime: archiveStore(lab.db).get(instanceId)?.latest_time ?? null, backups: locations }
}

/** The instance view's lab extension (README "API notes"): the restore window and the archiver's state. */
export function archiveView(
  lab: Lab,
  instanceId: string,
): { earliest_restorable_time: string | null; latest_restorable_time: string | null; archive: { state: ArchiveStatus['state']; detail: string | null } } {
  const row = archiveStore(lab.db).get(instanceId)
  const state = row?.state ?? 'off'
  if (!row || !existsSync(archiveDir(lab, instanceId))) return { earliest_restorable_time: null, latest_restorable_time: null, archive: { state, detail: row?.detail ?? null } }
  const w = archiveWindow(windowInput(lab, instanceId))
  const detail = w.gap ?? row.detail ?? null
  return { earliest_restorable_time: w.earliest, latest_restorable_time: w.latest, archive: { state: w.gap ? 'gap' : state, detail } }
}
