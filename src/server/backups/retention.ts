import type { RetentionBackupRow, RetentionInstanceRow } from '../db/backup-schedules.js'
import { badRequest } from '../errors.js'
import { RUNNING_STATES } from '../db/backups.js'

/** The lab's default retention of automated backups (days). */
export const DEFAULT_RETENTION_DAYS = 1
/** Limits of `backup_retention` (beyond them a value is a typo, not a policy). */
export const MAX_RETENTION_DAYS = 365
export const MAX_RETENTION_COUNT = 1000
const DAY_MS = 86_400_000

/** `backup_retention` of an instance create or update body. */
export interface RetentionBody {
  days?: unknown
  count?: unknown
}

/**
 * Checks a `backup_retention` object: days an integer 0..365 (0 turns automated backups
 * off), count an integer 1..1000 or null (no count limit). Returns what to store, with
 * the current values for what the body leaves out; a 400 naming the value and its range.
 */
export function checkRetention(body: unknown, current: { days: number; count: number | null } = { days: DEFAULT_RETENTION_DAYS, count: null }): { days: number; count: number | null } {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw badRequest("Invalid backup_retention: it is an object with 'days' and/or 'count'.")
  const b = body as RetentionBody
  const extra = Object.keys(b).filter((k) => k !== 'days' && k !== 'count')
  if (extra.length) throw badRequest(`Invalid backup_retention: unknown key '${extra[0]}' (only 'days' and 'count').`)
  let { days, count } = current
  if (b.days !== undefined) {
    if (typeof b.days !== 'number' || !Number.isInteger(b.days) || b.days < 0 || b.days > MAX_RETENTION_DAYS)
      throw badRequest(`Invalid backup retention days ${JSON.stringify(b.days)}: an integer from 0 to ${MAX_RETENTION_DAYS} (0 turns automated backups off).`)
    days = b.days
  }
  if (b.count !== undefined) {
    if (b.count !== null && (typeof b.count !== 'number' || !Number.isInteger(b.count) || b.count < 1 || b.count > MAX_RETENTION_COUNT))
      throw badRequest(`Invalid backup retention count ${JSON.stringify(b.count)}: an integer from 1 to ${MAX_RETENTION_COUNT}, or null for no count limit.`)
    count = b.count
  }
  return { days, count }
}

const ms = (iso: string) => Date.parse(iso.endsWith('Z') ? iso : `${iso}Z`)

/**
 * The automated backups of one instance that expire at `now` (pure; the expiry flow and
 * the tests call it). Manual backups never expire; running ones neither.
 * - A live instance keeps an automated backup younger than `days` that is among its
 *   `count` newest COMPLETED automated ones (when a count is set); days 0 keeps none.
 *   A FAILED automated backup (no data) goes once it is older than `days`, or at once
 *   when a count is set.
 * - A deleted instance keeps all of them until `days` after its deletion (restorable
 *   meanwhile), then none.
 * - Chain rule: a backup that a kept backup (manual or automated) builds on is kept,
 *   up to the full backup, so no kept incremental loses its parent.
 * Returns ids, children before their parents.
 */
export function expiredBackups(inst: RetentionInstanceRow, backups: RetentionBackupRow[], now: Date): string[] {
  const t = now.getTime()
  const days = inst.backup_retention_days
  const expired = new Set<string>()
  const auto = backups.filter((b) => b.automated === 1 && !RUNNING_STATES.includes(b.state))
  if (inst.deleted) {
    const gone = inst.deleted_at ? ms(inst.deleted_at) : t
    if (t - gone >= days * DAY_MS) for (const b of auto) expired.add(b.id)
  } else {
    const completed = auto.filter((b) => b.state !== 'FAILED').sort((a, b) => ms(b.created) - ms(a.created))
    const rank = new Map(completed.map((b, i) => [b.id, i]))
    for (const b of auto) {
      const young = days > 0 && t - ms(b.created) < days * DAY_MS
      const counted = inst.backup_retention_count === null || (rank.get(b.id) ?? Number.POSITIVE_INFINITY) < inst.backup_retention_count
      if (!young || !counted) expired.add(b.id)
    }
  }
  // Chain rule: walk up from every kept backup and keep its ancestors.
  const byId = new Map(backups.map((b) => [b.id, b]))
  for (const b of backups) {
    if (expired.has(b.id)) continue
    for (let p = b.parent_id ? byId.get(b.parent_id) : undefined; p; p = p.parent_id ? byId.get(p.parent_id) : undefined) expired.delete(p.id)
  }
  // Children first: a chain is removed from its newest end, so a crash never leaves a child without its parent.
  const depth = (b: RetentionBackupRow): number => {
    let d = 0
    for (let p = b.parent_id ? byId.get(b.parent_id) : undefined; p; p = p.parent_id ? byId.get(p.parent_id) : undefined) d++
    return d
  }
  return backups
    .filter((b) => expired.has(b.id))
    .sort((a, b) => depth(b) - depth(a))
    .map((b) => b.id)
}

/**
 * Whether the archive of a deleted instance that has no live backup left (no base a
 * restore could start from: Archives.orphans) expires at `now`: once its retention
 * period after the deletion has passed, as its automated backups would have (a deleted
 * instance that never had any kept its archive for ever before). Pure.
 */
export function archiveExpired(inst: { deleted_at: string | null; backup_retention_days: number }, now: Date): boolean {
  const gone = inst.deleted_at ? ms(inst.deleted_at) : now.getTime()
  return now.getTime() - gone >= inst.backup_retention_days * DAY_MS
}
