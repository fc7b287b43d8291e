import t from 'tap'
import Database from 'better-sqlite3'
import { join } from 'node:path'
import { migrate, openDatabase } from '../../src/server/db/index.js'
import { m001 } from '../../src/server/db/migrations/m001-core.js'
import { DEFAULT_QUOTAS, Quotas, instanceDeltas } from '../../src/server/quotas.js'
import { Fault } from '../../src/server/errors.js'
import { tempDir } from '../helpers/lab.js'

/** The fault `fn` throws, or undefined. */
function faultOf(fn: () => unknown): { status: number; message: string } | undefined {
  try {
    fn()
  } catch (e) {
    if (e instanceof Fault) return { status: e.status, message: e.message }
  }
  return undefined
}

const used = (q: Quotas, tenant: string) => Object.fromEntries(q.usage(tenant).map((u) => [u.resource, [u.in_use, u.reserved, u.limit]]))

t.test('reserve, commit, rollback (run_with_quotas)', async (t) => {
  const db = openDatabase(join(tempDir(t), 'q.db'))
  t.teardown(() => db.close())
  const q = new Quotas(db, { instances: 2, ram: 1024, backups: 50, volumes: 40 })

  const a = q.reserve('p', instanceDeltas(512, 5))
  t.same(used(q, 'p'), { instances: [0, 1, 2], ram: [0, 512, 1024], backups: [0, 0, 50], volumes: [0, 5, 40] }, 'reserved, not yet in use')
  q.commit(a)
  q.commit(a)
  q.rollback(a)
  t.same(used(q, 'p'), { instances: [1, 0, 2], ram: [512, 0, 1024], backups: [0, 0, 50], volumes: [5, 0, 40] }, 'committed once; later calls do nothing')

  const b = q.reserve('p', instanceDeltas(512, 5))
  t.same(
    faultOf(() => q.reserve('p', instanceDeltas(512, 1))),
    { status: 413, message: "Quota exceeded for resources: ['instances', 'ram']." },
    'what is reserved counts against the limit',
  )
  q.rollback(b)
  t.same(used(q, 'p').instances, [1, 0, 2], 'rolled back')
  t.same(used(q, 'other').instances, [0, 0, 2], 'per project')

  t.throws(
    () =>
      q.run('p', { instances: 1 }, () => {
        throw new Error('boom')
      }),
    /boom/,
  )
  t.same(used(q, 'p').instances, [1, 0, 2], 'run() rolls back when the work throws')
  t.equal(
    q.run('p', { instances: -3, ram: -512 }, () => 'done'),
    'done',
  )
  t.same(
    [used(q, 'p').instances, used(q, 'p').ram],
    [
      [0, 0, 2],
      [0, 0, 1024],
    ],
    'negative deltas never fail, in_use floors at 0',
  )

  await t.rejects(q.settle(q.reserve('p', { backups: 1 }), Promise.reject(new Error('async boom'))), /async boom/)
  t.same(used(q, 'p').backups, [0, 0, 50], 'settle() rolls back a failed promise')
  await q.settle(q.reserve('p', { backups: 1 }), Promise.resolve())
  t.same(used(q, 'p').backups, [1, 0, 50], 'and commits a resolved one')

  q.setLimits('p', { ram: -1, instances: 0 })
  t.doesNotThrow(() => q.commit(q.reserve('p', { ram: 1_000_000 })), '-1 = unlimited')
  t.throws(() => q.reserve('p', { instances: 1 }), /\['instances'\]/, 'a limit of 0 refuses everything')
  t.doesNotThrow(() => q.rollback(q.reserve('p', { instances: 0, volumes: -1 })), 'zero and negative deltas pass a full quota')
  t.same(
    faultOf(() => q.reserve('p', { cores: 1 } as never)),
    { status: 404, message: "Unknown quota resources ['cores']." },
  )
  t.throws(() => new Quotas(db, { ...DEFAULT_QUOTAS, backups: -2 }), /backups must be an integer >= -1/)
})

t.test('migration 2 counts the instances a database already holds', async (t) => {
  const file = join(tempDir(t), 'old.db')
  const old = new Database(file)
  old.exec('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)')
  old.exec(m001.sql)
  old.prepare('INSERT INTO schema_migrations VALUES (1, ?, ?)').run(m001.name, '2026-01-01T00:00:00')
  old.exec("INSERT INTO flavors (id, name, ram, vcpus) VALUES ('1', 'tiny', 512, 1), ('2', 'small', 2048, 1)")
  const row = old.prepare(`INSERT INTO instances (id, name, tenant_id, created, updated, flavor_id, volume_size, task_id, task_description, server_status, deleted)
    VALUES (?, 'x', ?, '', '', ?, ?, ?, '', 'ACTIVE', ?)`)
  row.run('a', 'p1', '1', 2, 1, 0)
  row.run('b', 'p1', '2', 3, 1, 0)
  row.run('c', 'p1', '2', 4, 2, 0) // being deleted: already released
  row.run('d', 'p1', '2', 4, 1, 1) // deleted
  row.run('e', 'p2', '1', 1, 1, 0)
  t.ok(migrate(old) >= 1, 'migrated (2 and any later ones)')
  const q = new Quotas(old, { instances: 10, ram: -1, backups: 50, volumes: 40 })
  t.same(used(q, 'p1'), { instances: [2, 0, 10], ram: [2560, 0, -1], backups: [0, 0, 50], volumes: [5, 0, 40] })
  t.same(used(q, 'p2').instances, [1, 0, 10])
  t.match(old.prepare('SELECT id FROM quota_usages LIMIT 1').pluck().get(), /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, 'uuid ids')
  old.close()
})
