import type { Lab } from '../lab.js'
import { badRequest, resourceNotFound } from '../errors.js'
import { archiveStore } from '../db/archives.js'
import { archiveDir, windowInput } from '../backups/archive-store.js'
import { chooseBase } from '../backups/archive-window.js'
import { resolveRestorePoint, type RestorePoint } from './restore-point.js'
import type { Requester } from './load.js'

/**
 * The restorePoint extension for point-in-time recovery (README "API notes"; upstream
 * clients never send it): `{"instanceRef": SOURCE, "restoreTime": ISO}` or
 * `{"instanceRef": SOURCE, "latest": true}`. SOURCE is an instance id, deleted or not
 * (its backups and archive outlive it for its retention). Everything is checked here,
 * before anything is created: the source is the caller's, archived, the time parses and
 * falls in the window, and the archive has no hole between the chosen base backup and
 * the time (backups/archive-window.ts); the base backup then goes through the same
 * checks as a plain restore.
 */
export function resolveRestoreToTime(
  lab: Lab,
  who: Requester,
  point: { instanceRef?: unknown; restoreTime?: unknown; latest?: unknown },
  datastore: { type?: string; version?: string; version_number?: string } | undefined,
  volumeSize: number,
): RestorePoint {
  const ref = String(point.instanceRef)
  if (point.restoreTime !== undefined && point.latest !== undefined) throw badRequest('restorePoint takes restoreTime or latest, not both.')
  if (point.restoreTime === undefined && point.latest !== true) throw badRequest('restorePoint with instanceRef needs restoreTime (ISO 8601 UTC) or latest: true.')
  let target: { time: string } | 'latest' = 'latest'
  if (point.restoreTime !== undefined) {
    const text = String(point.restoreTime)
    const t = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?(Z|[+-]\d\d:\d\d)$/.test(text) ? Date.parse(text) : Number.NaN
    if (Number.isNaN(t)) throw badRequest(`Invalid restoreTime '${text.slice(0, 60)}': give an ISO 8601 time with its zone, e.g. 2026-12-04T10:00:00Z.`)
    target = { time: text }
  }
  const source = lab.instances.getAny(ref)
  if (!source || (source.tenant_id !== who.projectId && !who.isAdmin)) throw resourceNotFound(ref)
  const manager = source.dsv_manager ?? 'unknown'
  if (manager !== 'postgresql' && manager !== 'mariadb' && manager !== 'mysql')
    throw badRequest(`Instance ${ref} (${manager}) has no log archive: ${manager} can only be restored from its backups (restorePoint backupRef).`)
  const state = archiveStore(lab.db).get(ref)
  const input = windowInput(lab, ref)
  if (!state || (!input.segments.length && !input.bases.length))
    throw badRequest(`Instance ${ref} has no archive to restore to a time from (its backup retention is 0 days, or it was never archived).`)
  // Times are compared on what the store holds now; a time is "in the future" against this server's clock.
  const choice = chooseBase(input, target, Date.now())
  if (!choice.ok) throw badRequest(choice.message)
  const restore = resolveRestorePoint(lab, who, choice.base.id, datastore, volumeSize)
  restore.spec.pitr = { archiveDir: archiveDir(lab, ref), target: target === 'latest' ? 'latest' : { time: target.time }, start: choice.base.start }
  return restore
}
