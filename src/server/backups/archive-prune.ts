import { existsSync, readdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { SEGMENT_SIDECAR_SUFFIX, segmentSeqOf } from '../../protocol/index.js'
import type { Lab } from '../lab.js'
import { scheduleStore } from '../db/backup-schedules.js'
import { archiveDir, readSidecars, windowInput } from './archive-store.js'

const UNSEALED_WAL = /^[0-9A-F]{24}\.partial$/

/**
 * After retention removed backups (tasks/expire-backups.ts): the archive keeps only what a
 * restore from a kept backup can use. Sealed segments older than the oldest kept base
 * backup's start go (file first, then its sidecar: a crash between the two leaves a
 * sidecar without a file, which reads as a hole before every kept base, i.e. nothing), and
 * so does unsealed WAL as old (the `.partial` where an older timeline ended);
 * a deleted instance with no backup left loses its whole archive. With no base backup at
 * all (a live instance nobody backed up yet) nothing is removed: the next backup starts
 * after the sealed segments anyway. Returns the number of segments removed.
 */
export function pruneArchive(lab: Lab, instanceId: string): number {
  const dir = archiveDir(lab, instanceId)
  const inst = scheduleStore(lab.db).retentionOf(instanceId)
  if (inst?.deleted && scheduleStore(lab.db).liveBackups(instanceId).length === 0) {
    rmSync(dir, { recursive: true, force: true })
    lab.log(`instance ${instanceId}: archive removed with its last backup`)
    return -1
  }
  const { bases } = windowInput(lab, instanceId)
  if (!bases.length) return 0
  const keepFrom = Math.min(...bases.map((b) => b.start.seq))
  let removed = 0
  for (const s of readSidecars(dir)) {
    if (s.seq >= keepFrom) continue
    rmSync(join(dir, s.name), { force: true })
    rmSync(join(dir, s.name + SEGMENT_SIDECAR_SUFFIX), { force: true })
    removed++
  }
  // Unsealed WAL: the open segment (never older than a kept base) and where each older timeline ended
  // (a failover leaves one per timeline, never sealed): the same age rule.
  for (const n of existsSync(dir) ? readdirSync(dir) : []) {
    if (!UNSEALED_WAL.test(n) || (segmentSeqOf(n) ?? keepFrom) >= keepFrom) continue
    rmSync(join(dir, n), { force: true })
    removed++
  }
  if (removed) lab.log(`instance ${instanceId}: ${removed} archive segment(s) older than its oldest backup removed`)
  return removed
}
