// Point-in-time restore through the API (instances/restore-to-time.ts), the instance view's window
// (backups/archive-store.ts) and the archive's pruning (backups/archive-prune.ts), against a store
// laid out by hand: backups with their metas, an archive with sidecars, the archive state a heartbeat left.
import t from 'tap'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { apiLab, instanceRow } from '../../helpers/api.js'
import { backupStore } from '../../../src/server/db/backups.js'
import { archiveStore } from '../../../src/server/db/archives.js'
import { pruneArchive } from '../../../src/server/backups/archive-prune.js'

const SRC = '0b7e2b7a-1111-4222-8333-444455556666'
const KV = '0b7e2b7a-1111-4222-8333-777788889999'
const seg = (seq: number) => `0000000100000000000000${seq.toString(16).toUpperCase().padStart(2, '0')}`

t.test('restore to a time: the window in the view, refusals before anything is created, the spec handed on', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false, backupSchedulerMs: 0 })
  const L = lab.server.lab
  const p = `/v1.0/${lab.demo.project}`
  const version = (ds: string) => L.db.prepare('SELECT v.id FROM datastore_versions v JOIN datastores d ON d.id = v.datastore_id WHERE d.name = ?').pluck().get(ds) as string
  for (const [id, ds] of [
    [SRC, 'postgresql'],
    [KV, 'redis'],
  ] as const)
    instanceRow(L, ds, id, lab.demo.project)
  const store = L.compute.backupsDir
  const backups = backupStore(L.db)
  const addBackup = (id: string, seq: number, time: string) => {
    backups.insert({
      id,
      name: id,
      description: null,
      tenant_id: lab.demo.project,
      instance_id: SRC,
      parent_id: null,
      datastore_version_id: version('postgresql'),
      backup_type: 'full',
      storage_driver: 'local',
      automated: true,
      created: time.slice(0, 19),
    })
    writeFileSync(join(store, `${id}.tar`), 'base')
    writeFileSync(join(store, `${id}.meta.json`), JSON.stringify({ engine: 'postgresql', archive: { seq, position: '1/0', time } }))
    backups.update(id, { state: 'COMPLETED', location: join(store, `${id}.tar`), checksum: '0'.repeat(32) })
  }
  addBackup('b0000000-0000-4000-8000-000000000001', 2, '2026-12-05T10:00:00.000Z')
  addBackup('b0000000-0000-4000-8000-000000000002', 5, '2026-12-05T11:00:00.000Z')
  const archive = join(store, 'archive', SRC)
  mkdirSync(archive, { recursive: true })
  for (let s = 1; s <= 6; s++) {
    writeFileSync(join(archive, seg(s)), 'wal')
    writeFileSync(
      join(archive, `${seg(s)}.seg.json`),
      JSON.stringify({
        name: seg(s),
        seq: s,
        sha256: 'x',
        bytes: 3,
        first_time: null,
        last_time: s === 2 ? 'garbage' : `2026-12-05T${String(9 + Math.floor(s / 3)).padStart(2, '0')}:${String((s % 3) * 20).padStart(2, '0')}:00Z`,
      }),
    )
  }
  const now = new Date(Date.now() - 60_000).toISOString()
  archiveStore(L.db).record(SRC, { state: 'streaming', latest_time: now })
  archiveStore(L.db).record(KV, { state: 'off', latest_time: null, detail: 'redis has no log archive: scheduled backups only' })
  archiveStore(L.db).record(SRC, { state: 'bogus', latest_time: 'never' } as never)

  const view = (await lab.req('GET', `${p}/instances/${SRC}`)).body.instance
  t.match(
    view,
    { earliest_restorable_time: '2026-12-05T10:00:00.000Z', latest_restorable_time: now, archive: { state: 'streaming', detail: null } },
    'the window and the state (a bogus status was dropped)',
  )
  t.match((await lab.req('GET', `${p}/instances/${KV}`)).body.instance, { earliest_restorable_time: null, latest_restorable_time: null, archive: { state: 'off' } }, 'redis: no archive')

  const create = (restorePoint: unknown) => lab.req('POST', `${p}/instances`, { body: { instance: { name: 'r', flavorRef: '1', volume: { size: 1 }, restorePoint } } })
  const count = () => L.db.prepare('SELECT count(*) FROM instances').pluck().get()
  const before = count()
  const window = `the restorable window is 2026-12-05T10:00:00.000Z to ${now}`
  const bad: Array<[unknown, RegExp]> = [
    [{ instanceRef: SRC, restoreTime: '2999-01-01T00:00:00Z' }, new RegExp(`^Restore time 2999-01-01T00:00:00Z is in the future; ${window}\\.$`)],
    [{ instanceRef: SRC, restoreTime: '2026-12-05T09:00:00Z' }, new RegExp(`^Restore time 2026-12-05T09:00:00Z is before the restorable window; ${window}\\.$`)],
    [{ instanceRef: SRC, restoreTime: 'yesterday' }, /^Invalid restoreTime 'yesterday': give an ISO 8601 time with its zone/],
    [{ instanceRef: SRC, restoreTime: '2026-12-05T10:30:00Z', latest: true }, /^restorePoint takes restoreTime or latest, not both\.$/],
    [{ instanceRef: SRC }, /^restorePoint with instanceRef needs restoreTime/],
    [{ instanceRef: SRC, backupRef: 'b0000000-0000-4000-8000-000000000001', latest: true }, /^restorePoint takes backupRef or instanceRef, not both\.$/],
    [{}, /^restorePoint needs backupRef/],
    [{ instanceRef: KV, latest: true }, /^Instance \S+ \(redis\) has no log archive: redis can only be restored from its backups/],
  ]
  for (const [body, message] of bad) {
    const r = await create(body)
    t.equal(r.status, 400, `400 for ${JSON.stringify(body)}`)
    t.match(r.body.badRequest?.message, message, r.body.badRequest?.message)
  }
  t.equal((await create({ instanceRef: 'aaaaaaaa-1111-4222-8333-444455556666', latest: true })).status, 404, 'an unknown source: 404')

  // A segment file gone: restores past it from the older base are refused; the newer base still serves.
  const { rmSync } = await import('node:fs')
  rmSync(join(archive, seg(3)))
  const gap = await create({ instanceRef: SRC, restoreTime: '2026-12-05T10:50:00Z' })
  t.match(gap.body.badRequest?.message, /is past a gap in the archive \(segment 3 is missing from the archive\)/, 'a gap: 400')
  // The agent reports a hole its sealed segments do not show yet: latest refused in the same words.
  archiveStore(L.db).record(SRC, { state: 'gap', latest_time: now, detail: 'segment 7 is missing from the archive' })
  const seen = await create({ instanceRef: SRC, latest: true })
  t.equal(seen.body.badRequest?.message, `Cannot restore to the latest time: the archive has a gap (segment 7 is missing from the archive); ${window}.`, 'a gap the agent saw: 400, one wording')
  archiveStore(L.db).record(SRC, { state: 'streaming', latest_time: now })
  t.equal(count(), before, 'nothing created by any refusal')

  const ok = await create({ instanceRef: SRC, restoreTime: '2026-12-05T11:05:00.123456Z' })
  t.equal(ok.status, 200, 'a time past the newer base: accepted')
  const task = L.db.prepare("SELECT payload FROM tasks WHERE kind = 'create_instance' AND instance_id = ?").pluck().get(ok.body.instance.id) as string
  t.match(
    JSON.parse(task).restore,
    { backupId: 'b0000000-0000-4000-8000-000000000002', pitr: { archiveDir: archive, target: { time: '2026-12-05T11:05:00.123456Z' }, start: { seq: 5 } } },
    'the newer base and the archive handed to the create',
  )

  // The source deleted: its backups and archive stay for its retention, and restores still work.
  L.instances.markDeleted(SRC)
  const after = await create({ instanceRef: SRC, latest: true })
  t.equal(after.status, 200, 'latest from a deleted source: accepted')
  const task2 = L.db.prepare("SELECT payload FROM tasks WHERE kind = 'create_instance' AND instance_id = ?").pluck().get(after.body.instance.id) as string
  t.match(JSON.parse(task2).restore, { pitr: { target: 'latest', start: { seq: 5 } } }, 'from the newest base')
})

t.test('pruning: segments older than the oldest kept base go; a deleted instance loses its archive with its last backup', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false, backupSchedulerMs: 0 })
  const L = lab.server.lab
  const { version } = instanceRow(L, 'postgresql', SRC)
  const store = L.compute.backupsDir
  const backups = backupStore(L.db)
  const id = 'b0000000-0000-4000-8000-000000000009'
  backups.insert({
    id,
    name: id,
    description: null,
    tenant_id: 'p1',
    instance_id: SRC,
    parent_id: null,
    datastore_version_id: version,
    backup_type: 'full',
    storage_driver: 'local',
    automated: true,
    created: '2026-12-05T10:00:00',
  })
  writeFileSync(join(store, `${id}.tar`), 'base')
  writeFileSync(join(store, `${id}.meta.json`), JSON.stringify({ archive: { seq: 3, position: '1/0', time: '2026-12-05T10:00:00Z' } }))
  backups.update(id, { state: 'COMPLETED', location: join(store, `${id}.tar`), checksum: '0'.repeat(32) })
  const archive = join(store, 'archive', SRC)
  mkdirSync(archive, { recursive: true })
  for (let s = 1; s <= 4; s++) {
    writeFileSync(join(archive, seg(s)), 'wal')
    writeFileSync(join(archive, `${seg(s)}.seg.json`), JSON.stringify({ name: seg(s), seq: s, sha256: 'x', bytes: 3, first_time: null, last_time: null }))
  }
  // Where timelines 2 and 3 ended (failovers): never sealed; the one before the base goes, the other stays.
  const ended = (tli: number, s: number) => `0000000${tli}${seg(s).slice(8)}.partial`
  writeFileSync(join(archive, ended(2, 2)), 'wal')
  writeFileSync(join(archive, ended(3, 3)), 'wal')
  t.equal(pruneArchive(L, SRC), 3, 'segments 1 and 2 removed, and the ended timeline in segment 2')
  t.notOk(existsSync(join(archive, seg(2))) || existsSync(join(archive, `${seg(2)}.seg.json`)), 'file and sidecar gone')
  t.ok(existsSync(join(archive, seg(3))), 'the base start segment kept')
  t.notOk(existsSync(join(archive, ended(2, 2))), "timeline 2's end, before the base: gone")
  t.ok(existsSync(join(archive, ended(3, 3))), "timeline 3's end, in the base's segment: kept")
  L.instances.markDeleted(SRC)
  t.equal(pruneArchive(L, SRC), 0, 'deleted, a backup left: kept')
  backups.markDeleted(id)
  pruneArchive(L, SRC)
  t.notOk(existsSync(archive), 'deleted and no backup left: the archive is gone')
})
