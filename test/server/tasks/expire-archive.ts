// The archive of a deleted instance that nothing restorable needs expires (tasks/expire-archive.ts,
// submitted by the scheduler's sweep), under the scheduler's clock in the test's hands: kept while the
// instance lives, while a backup of it is left, and for its retention after the deletion; then removed
// (files, then its record) once, and a server killed between the two steps finishes at its next start.
import t, { type Test } from 'tap'
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { apiLab, instanceRow } from '../../helpers/api.js'
import { until } from '../../helpers/scripted-agent.js'
import { tempDir, buildServer } from '../../helpers/lab.js'
import type { Lab } from '../../../src/server/lab.js'
import { openDatabase } from '../../../src/server/db/index.js'
import { Tasks } from '../../../src/server/db/tasks.js'
import { archiveStore } from '../../../src/server/db/archives.js'
import { backupStore } from '../../../src/server/db/backups.js'
import { archiveDirOf } from '../../../src/protocol/index.js'

const A = '0b7e2b7a-1111-4222-8333-00000000000a'
const B = '0b7e2b7a-1111-4222-8333-00000000000b'
const C = '0b7e2b7a-1111-4222-8333-00000000000c'
const DAY = 86_400_000

function clock(start: string) {
  let now = new Date(start)
  return { now: () => now, set: (ms: number) => (now = new Date(ms)) }
}

/** An instance row with an archive in the store (two binlog files, one sealed) and the state a heartbeat left. */
function archivedInstance(lab: Lab, id: string): { dir: string; version: string } {
  const { version } = instanceRow(lab, 'mariadb', id)
  const dir = archiveDirOf(lab.compute.backupsDir, id)
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, 'mysql-bin.000001'), 'binlog')
  writeFileSync(join(dir, 'mysql-bin.000001.seg.json'), JSON.stringify({ name: 'mysql-bin.000001', seq: 1, sha256: 'x', bytes: 6, first_time: null, last_time: null }))
  writeFileSync(join(dir, 'mysql-bin.000002'), 'open')
  archiveStore(lab.db).record(id, { state: 'streaming', latest_time: '2026-12-05T10:00:00Z' })
  return { dir, version }
}

const deletedAt = (lab: Lab, id: string): number => Date.parse(`${lab.db.prepare('SELECT deleted_at FROM instances WHERE id = ?').pluck().get(id) as string}Z`)

t.test('kept while needed, removed once after the retention from the deletion', async (t: Test) => {
  const c = clock('2026-12-05T10:00:00Z')
  const lab = await apiLab(t, { spawnAgents: false, clock: c.now, backupSchedulerMs: 0 })
  const L = lab.server.lab
  const a = archivedInstance(L, A)
  const b = archivedInstance(L, B)
  // B has a manual backup (a base a restore to a time can start from): it keeps B's archive.
  const backups = backupStore(L.db)
  backups.insert({
    id: 'b-manual',
    name: 'm',
    description: null,
    tenant_id: 'p1',
    instance_id: B,
    parent_id: null,
    datastore_version_id: b.version,
    backup_type: 'full',
    storage_driver: 'local',
    automated: false,
    created: '2026-12-05T09:00:00',
  })
  backups.update('b-manual', { state: 'COMPLETED', location: join(L.compute.backupsDir, 'b-manual.xbstream'), checksum: '0'.repeat(32) })

  t.same(L.scheduler.tick().archives, [], 'live instances: their archives stay')
  L.instances.markDeleted(A)
  L.instances.markDeleted(B)
  const gone = deletedAt(L, A)
  c.set(gone + DAY - 1000)
  t.same(L.scheduler.tick().archives, [], 'within the retention (1 day) after the deletion: kept (restorable meanwhile)')
  t.ok(existsSync(a.dir), "A's archive is there")

  c.set(gone + DAY + 1000)
  t.same(L.scheduler.tick().archives, [A], "past the retention: A's archive expires (B has a backup)")
  await until(() => !existsSync(a.dir) && !archiveStore(L.db).get(A), 5000, "A's archive and its record gone")
  t.ok(L.db.prepare("SELECT 1 FROM tasks WHERE kind = 'expire_archive' AND instance_id = ? AND state = 'done'").get(A), 'a recorded task did it')
  t.ok(existsSync(b.dir), "B's archive kept: a backup of B is left")
  t.same(L.scheduler.tick().archives, [], 'nothing submitted twice')

  backups.markDeleted('b-manual')
  t.same(L.scheduler.tick().archives, [B], "B's last backup deleted, its retention passed: B's archive expires")
  await until(() => !existsSync(b.dir) && !archiveStore(L.db).get(B), 5000, "B's archive and its record gone")
})

t.test('a server killed between the two steps finishes the removal at start', async (t: Test) => {
  const dataDir = join(tempDir(t), 'lab')
  const c = clock('2026-12-05T10:00:00Z')
  const build = () => buildServer({ dataDir, host: '127.0.0.1', port: 0, log: () => {}, spawnAgents: false, clock: c.now, backupSchedulerMs: 0 })
  let server = await build()
  await server.start()
  const { dir } = archivedInstance(server.lab, C)
  server.lab.instances.markDeleted(C)
  const gone = deletedAt(server.lab, C)
  await server.close()
  // What a kill -9 after the step was recorded leaves: part of the files gone, the record still there.
  const db = openDatabase(join(dataDir, 'trove.db'))
  new Tasks(db).insert({
    id: 'task-archive',
    instance_id: C,
    kind: 'expire_archive',
    state: 'running',
    step: 'remove_files',
    payload: '{}',
    error: null,
    created: '2026-12-06T10:00:01',
    updated: '2026-12-06T10:00:01',
  })
  db.close()
  rmSync(join(dir, 'mysql-bin.000001'))
  c.set(gone + DAY + 1000)
  server = await build()
  t.teardown(() => server.close())
  await server.start()
  await until(() => !existsSync(dir) && !archiveStore(server.lab.db).get(C), 5000, 'the resumed task removed the rest and the record')
  t.pass('no half-removed archive left')
})
