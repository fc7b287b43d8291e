import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { BACKUP_META_SUFFIX, SEGMENT_SIDECAR_SUFFIX, archiveDirOf, type ArchiveSegment, type ArchiveStart, type ArchiveStatus } from '../../protocol/index.js'
import type { Lab } from '../lab.js'
import { archiveStore } from '../db/archives.js'
import { backupStore, RESTORABLE_STATES } from '../db/backups.js'
import { scheduleStore } from '../db/backup-schedules.js'
import { archiveWindow, type BaseBackup, type SealedSegment, type WindowInput } from './archive-window.js'

/**
 * Parsed sidecars by path: a sidecar never changes once written (rename into place), so
 * only the listing is read again each time (a file deleted a moment ago is seen at once).
 */
const sidecarCache = new Map<string, SealedSegment & { name: string }>()

/** The complete segments of an archive directory, from their sidecars (unreadable ones are left out: a hole). */
export function readSidecars(dir: string): Array<SealedSegment & { name: string }> {
  let names: Set<string>
  try {
    names = new Set(readdirSync(dir))
  } catch {
    return []
  }
  const segments: Array<SealedSegment & { name: string }> = []
  for (const n of names) {
    if (!n.endsWith(SEGMENT_SIDECAR_SUFFIX)) continue
    const path = join(dir, n)
    let seg = sidecarCache.get(path)
    if (!seg) {
      try {
        const s = JSON.parse(readFileSync(path, 'utf8')) as ArchiveSegment
        if (!Number.isSafeInteger(s.seq) || typeof s.name !== 'string') continue
        seg = { name: s.name, seq: s.seq, last_time: typeof s.last_time === 'string' && !Number.isNaN(Date.parse(s.last_time)) ? s.last_time : null, present: false }
        if (sidecarCache.size > 100_000) sidecarCache.clear()
        sidecarCache.set(path, seg)
      } catch {
        continue // a sidecar being replaced, or garbage: not counted
      }
    }
    segments.push({ ...seg, present: names.has(n.slice(0, -SEGMENT_SIDECAR_SUFFIX.length)) })
  }
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
  const row = archiveStore(lab.db).get(instanceId)
  return {
    bases,
    segments: readSidecars(archiveDir(lab, instanceId)),
    latestTime: row?.latest_time ?? null,
    agentGap: row?.state === 'gap' ? row.detail : null,
    backups: locations,
  }
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
