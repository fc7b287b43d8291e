// Retention rules (backups/retention.ts): pure, with the clock given.
import t from 'tap'
import { archiveExpired, checkRetention, expiredBackups } from '../../../src/server/backups/retention.js'
import type { RetentionBackupRow, RetentionInstanceRow } from '../../../src/server/db/backup-schedules.js'

const inst = (o: Partial<RetentionInstanceRow> = {}): RetentionInstanceRow => ({ id: 'i', deleted: 0, deleted_at: null, backup_retention_days: 1, backup_retention_count: null, ...o })
const b = (id: string, created: string, o: Partial<RetentionBackupRow> = {}): RetentionBackupRow => ({
  id,
  tenant_id: 'p',
  instance_id: 'i',
  parent_id: null,
  state: 'COMPLETED',
  automated: 1,
  created,
  ...o,
})
const at = (iso: string) => new Date(`${iso}Z`)

t.test('days: automated backups older than the retention expire; manual and running ones never', async (t) => {
  const rows = [b('old', '2026-12-01T10:00:00'), b('young', '2026-12-05T09:00:00'), b('manual', '2026-11-01T00:00:00', { automated: 0 }), b('run', '2026-11-01T00:00:00', { state: 'BUILDING' })]
  t.same(expiredBackups(inst(), rows, at('2026-12-05T10:00:00')), ['old'])
  t.same(expiredBackups(inst({ backup_retention_days: 7 }), rows, at('2026-12-05T10:00:00')), [], '7 days keep both')
  t.same(expiredBackups(inst({ backup_retention_days: 0 }), rows, at('2026-12-05T10:00:00')).sort(), ['old', 'young'], '0 days: automated backups off, all of them go')
  t.same(expiredBackups(inst(), [b('edge', '2026-12-04T10:00:00')], at('2026-12-05T10:00:00')), ['edge'], 'exactly the retention old: expired')
  t.same(expiredBackups(inst(), [b('edge', '2026-12-04T10:00:01')], at('2026-12-05T10:00:00')), [], 'a second younger: kept')
})

t.test('count: only the newest COMPLETED automated ones are kept; failed ones go', async (t) => {
  const rows = [
    b('a1', '2026-12-05T01:00:00'),
    b('a2', '2026-12-05T02:00:00'),
    b('f', '2026-12-05T02:30:00', { state: 'FAILED' }),
    b('a3', '2026-12-05T03:00:00'),
    b('m', '2026-12-05T00:00:00', { automated: 0 }),
  ]
  const now = at('2026-12-05T04:00:00')
  t.same(expiredBackups(inst({ backup_retention_count: 1 }), rows, now).sort(), ['a1', 'a2', 'f'])
  t.same(expiredBackups(inst({ backup_retention_count: 2 }), rows, now).sort(), ['a1', 'f'])
  t.same(expiredBackups(inst(), rows, now), [], 'no count: failed ones stay until they are older than the days')
})

t.test('chain rule: a kept backup keeps every backup it builds on; removal goes children first', async (t) => {
  // full <- inc1 <- inc2 (automated), and a manual incremental on top of inc1's sibling chain.
  const rows = [
    b('full', '2026-12-01T00:00:00'),
    b('inc1', '2026-12-02T00:00:00', { parent_id: 'full' }),
    b('inc2', '2026-12-05T09:00:00', { parent_id: 'inc1' }),
    b('full2', '2026-12-01T00:00:00'),
    b('inc3', '2026-12-02T00:00:00', { parent_id: 'full2' }),
    b('manual', '2026-12-02T00:00:00', { parent_id: 'full2', automated: 0 }),
    b('full3', '2026-12-01T00:00:00'),
    b('inc4', '2026-12-02T00:00:00', { parent_id: 'full3' }),
    b('inc5', '2026-12-03T00:00:00', { parent_id: 'inc4' }),
  ]
  const out = expiredBackups(inst(), rows, at('2026-12-05T10:00:00'))
  t.notOk(out.includes('full') || out.includes('inc1'), 'the young inc2 keeps inc1 and full')
  t.notOk(out.includes('full2'), 'a manual incremental keeps its automated parent')
  t.ok(out.includes('inc3'), 'an expired child with no kept child goes')
  t.same(
    out.filter((id) => ['full3', 'inc4', 'inc5'].includes(id)),
    ['inc5', 'inc4', 'full3'],
    'a whole expired chain goes newest first (never a child without its parent)',
  )
  t.same(expiredBackups(inst({ backup_retention_count: 1 }), rows.slice(0, 3), at('2026-12-05T10:00:00')), [], 'count 1 keeps inc2 and so its whole chain')
})

t.test('a deleted instance keeps its automated backups for its retention from the deletion, then none', async (t) => {
  const rows = [b('a1', '2026-11-01T00:00:00'), b('a2', '2026-12-04T00:00:00'), b('m', '2026-11-01T00:00:00', { automated: 0 })]
  const gone = inst({ deleted: 1, deleted_at: '2026-12-05T00:00:00', backup_retention_days: 2 })
  t.same(expiredBackups(gone, rows, at('2026-12-06T23:59:59')), [], 'within the retention after deletion: all kept (restorable), even an old one')
  t.same(expiredBackups(gone, rows, at('2026-12-07T00:00:00')).sort(), ['a1', 'a2'], 'then all automated ones go; the manual one stays')
})

t.test("a deleted instance's archive with no backup left: kept for its retention from the deletion", async (t) => {
  const gone = { deleted_at: '2026-12-05T00:00:00', backup_retention_days: 2 }
  t.notOk(archiveExpired(gone, at('2026-12-06T23:59:59')), 'within the retention: kept')
  t.ok(archiveExpired(gone, at('2026-12-07T00:00:00')), 'then it expires')
  t.ok(archiveExpired({ ...gone, backup_retention_days: 0 }, at('2026-12-05T00:00:00')), 'retention 0 (archiving off): at once')
})

t.test('checkRetention: ranges and messages', async (t) => {
  t.same(checkRetention({ days: 3 }), { days: 3, count: null })
  t.same(checkRetention({ count: 5 }, { days: 2, count: null }), { days: 2, count: 5 }, 'what the body leaves out is kept')
  t.same(checkRetention({ count: null }, { days: 2, count: 5 }), { days: 2, count: null }, 'null clears the count')
  for (const [v, m] of [
    [{ days: -1 }, /days -1: an integer from 0 to 365/],
    [{ days: 1.5 }, /days 1.5/],
    [{ days: '3' }, /days "3"/],
    [{ count: 1001 }, /count 1001: an integer from 1 to 1000/],
    [null, /an object/],
  ] as const) {
    t.throws(() => checkRetention(v), { status: 400, message: m }, JSON.stringify(v))
  }
})
