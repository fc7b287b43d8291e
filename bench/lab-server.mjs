// A trove server in a process of its own for the benchmarks that need no real engines
// (bench/api.mjs with 100 instances, bench/heartbeats.mjs): the same buildServer() that
// `trove server` runs, started with spawnAgents:false, no rate limits and no instance
// quota, plus an IPC channel through which the parent inserts instance rows and issues
// agent credentials. Started by harness.mjs startLabServer(); not run by hand.
//   argv[2]: data directory
import { randomUUID } from 'node:crypto'
import { buildServer } from '../dist/server/index.js'

const dataDir = process.argv[2]
const server = await buildServer({
  dataDir,
  host: '127.0.0.1',
  port: 0,
  rateLimits: [],
  spawnAgents: false,
  quotaDefaults: { instances: -1, ram: -1, volumes: -1, backups: -1 },
  // Rows made by POST /instances stay BUILD (no agent) until the parent marks them ACTIVE.
  buildTimeoutMs: 3_600_000,
  log: () => undefined,
})
const started = await server.start()
const { lab } = server

const ops = {
  /** n ACTIVE instance rows (HEALTHY guest, no address, no agent) in `project`; their ids. */
  seed({ project, n, prefix = 'bench-row' }) {
    const dsv =
      lab.db.prepare("SELECT v.id FROM datastore_versions v JOIN datastores d ON d.id = v.datastore_id WHERE v.manager = 'redis' ORDER BY v.id LIMIT 1").pluck().get() ??
      lab.db.prepare('SELECT id FROM datastore_versions LIMIT 1').pluck().get()
    const ids = []
    lab.db.transaction(() => {
      for (let i = 0; i < n; i++) {
        const id = randomUUID()
        lab.instances.create({
          id,
          name: `${prefix}-${i}`,
          tenant_id: project,
          flavor_id: '1',
          volume_size: 1,
          volume_type: null,
          datastore_version_id: dsv,
          address: null,
          port: null,
          region_id: lab.config.region,
          access: null,
        })
        lab.instances.setTask(id, 'NONE')
        lab.instances.setServerStatus(id, 'ACTIVE')
        lab.instances.heartbeat(id, 'HEALTHY', Date.now(), null, null)
        ids.push(id)
      }
    })()
    return ids
  },
  /** Per-agent MQTT credentials for the ids, as the create flow issues them. */
  credentials({ ids }) {
    return ids.map((id) => ({ id, ...lab.credentials.issue(id) }))
  },
  /** Marks the BUILD rows of `project` ACTIVE (so that DELETE accepts them); their ids. */
  activateBuilding({ project }) {
    const ids = lab.db.prepare("SELECT id FROM instances WHERE tenant_id = ? AND deleted = 0 AND server_status = 'BUILD'").pluck().all(project)
    for (const id of ids) {
      lab.instances.setTask(id, 'NONE')
      lab.instances.setServerStatus(id, 'ACTIVE')
    }
    return ids
  },
  /** Rows inserted by seed() go away without a delete flow (they have nothing on disk). */
  unseed({ ids }) {
    lab.db.transaction(() => {
      for (const id of ids) {
        lab.credentials.revoke(id)
        lab.instances.markDeleted(id)
      }
    })()
    return ids.length
  },
  /** Heartbeats applied per instance (last_sent > 0 and status healthy). */
  heartbeatStats({ ids }) {
    const q = lab.db.prepare('SELECT last_sent FROM service_statuses WHERE instance_id = ?').pluck()
    let fresh = 0
    const now = Date.now()
    for (const id of ids) if (now - (q.get(id) ?? 0) < 5000) fresh++
    return { fresh }
  },
}

process.on('message', async (m) => {
  try {
    process.send({ id: m.id, ok: true, result: await ops[m.op](m.args ?? {}) })
  } catch (e) {
    process.send({ id: m.id, ok: false, error: e.stack ?? String(e) })
  }
})
const stop = async () => {
  await server.close()
  process.disconnect?.()
  process.exit(0)
}
process.once('SIGTERM', stop)
process.once('SIGINT', stop)
process.on('disconnect', () => void stop())
process.send({ ready: true, url: started.url, cloudsFile: started.cloudsFile, brokerPort: started.brokerPort })
