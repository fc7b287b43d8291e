// Retention expiry at scale: an instance with BENCH_BACKUPS (default 1,000) completed automated
// backups (each a file in the store) and a retention count of 1; one scheduler pass chooses the
// expired ones and the expire_backups task removes them (files, rows, quota). Measures the choice,
// the removal, and the longest gap between two API answers meanwhile (the API is served between batches). An in-process server (no agents), the scheduler's clock driven.
// Run with `npm run bench` (BENCH_ONLY=retention) or `node bench/retention.mjs` after a build.
import { chmodSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { machine, median, writeSection, ROOT } from './lib.mjs'

const N = Number(process.env.BENCH_BACKUPS ?? 1000)
const RUNS = Number(process.env.BENCH_RUNS ?? 3)
const { buildServer } = await import(join(ROOT, 'dist/server/index.js'))
const { backupStore } = await import(join(ROOT, 'dist/server/db/backups.js'))
const { scheduleStore } = await import(join(ROOT, 'dist/server/db/backup-schedules.js'))
const { expiredBackups } = await import(join(ROOT, 'dist/server/backups/retention.js'))

async function once() {
  const dir = mkdtempSync('/tmp/tvret.')
  chmodSync(dir, 0o711)
  const dataDir = join(dir, 'lab')
  const now = new Date()
  const server = await buildServer({ dataDir, host: '127.0.0.1', port: 0, log: () => {}, spawnAgents: false, clock: () => now, backupSchedulerMs: 0 })
  try {
    await server.start()
    const { lab } = server
    const version = lab.db.prepare("SELECT v.id FROM datastore_versions v JOIN datastores d ON d.id = v.datastore_id WHERE d.name = 'redis'").pluck().get()
    const id = '0b7e2b7a-1111-4222-8333-444455556666'
    lab.instances.create({
      id,
      name: 'i',
      tenant_id: 'p1',
      flavor_id: '1',
      volume_size: 1,
      volume_type: null,
      datastore_version_id: version,
      address: null,
      port: null,
      region_id: 'RegionOne',
      access: null,
    })
    const store = scheduleStore(lab.db)
    store.setRetention(id, 1, 1)
    lab.quotas.setLimits('p1', { backups: -1 })
    const backups = backupStore(lab.db)
    lab.db.transaction(() => {
      for (let i = 0; i < N; i++) {
        const bid = `bench-${String(i).padStart(6, '0')}`
        const created = new Date(now.getTime() - (N - i) * 1000).toISOString().slice(0, 19)
        backups.insert({
          id: bid,
          name: bid,
          description: null,
          tenant_id: 'p1',
          instance_id: id,
          parent_id: null,
          datastore_version_id: version,
          backup_type: 'full',
          storage_driver: 'local',
          automated: true,
          created,
        })
        const f = join(dataDir, 'backups', `${bid}.rdb`)
        writeFileSync(f, bid)
        backups.update(bid, { state: 'COMPLETED', location: f, checksum: '0'.repeat(32) })
      }
      lab.quotas.run('p1', { backups: N }, () => undefined)
    })()
    const t0 = performance.now()
    const chosen = expiredBackups(store.retentionOf(id), store.liveBackups(id), now).length
    const choose = performance.now() - t0
    const t1 = performance.now()
    lab.scheduler.tick()
    // The longest time between two answered requests: what a batch holds the event loop.
    const lat = []
    let last = performance.now()
    while (lab.tasks.running(id, 'expire_backups')) {
      await server.http.inject({ method: 'GET', url: '/v1.0' })
      lat.push(performance.now() - last)
      last = performance.now()
      // inject() resolves without going through the event loop's I/O phases: give them a turn, as real requests do.
      await new Promise((r) => setTimeout(r, 1))
    }
    const remove = performance.now() - t1
    const left = store.liveBackups(id).length
    const files = readdirSync(join(dataDir, 'backups')).length
    if (chosen !== N - 1 || left !== 1 || files !== 1) throw new Error(`expiry incomplete: chosen ${chosen}, rows left ${left}, files left ${files}`)
    return { choose, remove, maxGap: lat.length ? Math.max(...lat) : 0 }
  } finally {
    await server.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

const runs = []
for (let i = 0; i < RUNS; i++) runs.push(await once())
const f = (xs) => median(xs).toFixed(0)
const body = `\`node bench/retention.mjs\` (BENCH_BACKUPS=${N}, median of ${RUNS} runs; ${machine()}).

| backups | choosing the expired ones (retention.ts) | removing ${N - 1} (files, rows, quota; batches of 100) | longest gap between two API answers meanwhile |
|---|---|---|---|
| ${N} | ${f(runs.map((r) => r.choose))} ms | ${f(runs.map((r) => r.remove))} ms | ${f(runs.map((r) => r.maxGap))} ms |

One pass of the scheduler submits the expiry; the task removes the backups in batches of 100 (each
batch: the files, then one transaction for the rows and the quota) and lets requests in between
batches. Removing them one commit each (synchronous=FULL) took 11 s for 1,000 before batching.
`
writeSection('retention', 'Retention: expiring automated backups', body)
process.stdout.write(body)
