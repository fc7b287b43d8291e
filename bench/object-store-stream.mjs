// The stream alone (src/server/object-store/ + src/agent/object-store.ts): BENCH_MB MiB (256) PUT through the
// object store over https on loopback (the server hashes, writes, fsyncs and links; the agent hashes and sends
// the MD5 as a trailer), and GET back hashed, next to what the directory store does with the same bytes: write
// a file while hashing, fsync, rename; read it back hashed. No engine, no sandbox: what the stream itself costs.
// Knobs: BENCH_MB (256), BENCH_RUNS (5). After a build: `node bench/object-store-stream.mjs`.
import { createHash, randomUUID } from 'node:crypto'
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { open, rename, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { machine, median } from './lib.mjs'

const MB = Number(process.env.BENCH_MB ?? 256)
const RUNS = Number(process.env.BENCH_RUNS ?? 5)
const { buildServer } = await import('../dist/server/index.js')
const { startObjectStore } = await import('../dist/server/object-store/endpoint.js')
const { ensureBrokerTls } = await import('../dist/server/broker/tls.js')
const { backupStore } = await import('../dist/server/db/backups.js')
const { ObjectStore } = await import('../dist/agent/object-store.js')

const chunk = Buffer.alloc(1 << 20, 7)
async function* data() {
  for (let i = 0; i < MB; i++) yield chunk
}

const dir = mkdtempSync('/tmp/tv-bench-oss.')
chmodSync(dir, 0o711)
const server = await buildServer({ dataDir: join(dir, 'lab'), host: '127.0.0.1', port: 0, spawnAgents: false, reconcileMs: 0, log: () => {} })
await server.start()
const L = server.lab
const tls = ensureBrokerTls(join(dir, 'lab', 'tls'), ['127.0.0.1'])
const store = await startObjectStore({ lab: L, host: '127.0.0.1', tls, log: console.error })
const version = L.db.prepare('SELECT id FROM datastore_versions LIMIT 1').pluck().get()
const inst = randomUUID()
L.instances.create({
  id: inst,
  name: 'b',
  tenant_id: 'p1',
  flavor_id: '1',
  volume_size: 10,
  volume_type: null,
  datastore_version_id: version,
  address: null,
  port: null,
  region_id: 'RegionOne',
  access: null,
})
const cred = L.credentials.issue(inst)
const bootstrapFile = join(dir, 'agent.json')
writeFileSync(bootstrapFile, JSON.stringify({ objectStore: { url: `https://127.0.0.1:${store.port}` } }))
const client = new ObjectStore({ bootstrapFile, username: cred.username, password: cred.password, ca: tls.ca, backupDir: L.compute.backupsDir, storageDir: L.compute.storageDir })

const out = { putStream: [], putDir: [], getStream: [], getDir: [] }
try {
  console.log(machine())
  for (let i = 0; i < RUNS; i++) {
    const id = randomUUID()
    backupStore(L.db).insert({ id, name: 'b', description: null, tenant_id: 'p1', instance_id: inst, parent_id: null, datastore_version_id: null, backup_type: 'full', storage_driver: null })
    // The stream: PUT (hash on both sides, server fsync + link).
    let t0 = performance.now()
    const h = createHash('md5')
    async function* hashed() {
      for await (const c of data()) {
        h.update(c)
        yield c
      }
    }
    let digest
    await client.put('backups', `${id}.tar`, hashed(), () => (digest ??= h.digest('hex')))
    out.putStream.push(performance.now() - t0)
    // The directory store: write while hashing, fsync, rename.
    t0 = performance.now()
    const h2 = createHash('md5')
    const f = join(L.compute.backupsDir, `${id}.dir.tmp`)
    const fh = await open(f, 'w', 0o600)
    for await (const c of data()) {
      h2.update(c)
      await fh.write(c)
    }
    await fh.sync()
    await fh.close()
    await rename(f, join(L.compute.backupsDir, `${id}.dir`))
    h2.digest('hex')
    out.putDir.push(performance.now() - t0)
    // Reads back, hashed. (The GET is granted only to a restore chain: read here as the server's own file through HTTP is
    // not possible for the writer, so the read side is timed through a second store call as the chain's reader.)
    L.db.prepare("UPDATE backups SET state = 'COMPLETED', location = ? WHERE id = ?").run(join(L.compute.backupsDir, `${id}.tar`), id)
    const reader = randomUUID()
    L.instances.create({
      id: reader,
      name: 'r',
      tenant_id: 'p1',
      flavor_id: '1',
      volume_size: 10,
      volume_type: null,
      datastore_version_id: version,
      address: null,
      port: null,
      region_id: 'RegionOne',
      access: null,
    })
    const rc = L.credentials.issue(reader)
    L.db
      .prepare("INSERT INTO tasks (id, instance_id, kind, state, step, payload, created, updated) VALUES (?, ?, 'create_instance', 'running', 'launch', ?, 'x', 'x')")
      .run(randomUUID(), reader, JSON.stringify({ restore: { backupId: id, chain: [{ id, location: join(L.compute.backupsDir, `${id}.tar`), checksum: digest, type: 'full' }] } }))
    const rclient = new ObjectStore({ ...client.o, username: rc.username, password: rc.password })
    t0 = performance.now()
    const h3 = createHash('md5')
    for await (const c of await rclient.get('backups', `${id}.tar`)) h3.update(c)
    out.getStream.push(performance.now() - t0)
    if (h3.digest('hex') !== digest) throw new Error('GET returned other bytes')
    rclient.close()
    t0 = performance.now()
    const h4 = createHash('md5')
    const rh = await open(join(L.compute.backupsDir, `${id}.dir`), 'r')
    for await (const c of rh.createReadStream()) h4.update(c)
    out.getDir.push(performance.now() - t0)
    await rm(join(L.compute.backupsDir, `${id}.dir`))
    await rm(join(L.compute.backupsDir, `${id}.tar`))
  }
  const s = (k) => (median(out[k]) / 1000).toFixed(2)
  console.log(
    `| ${MB} MiB | PUT stream ${s('putStream')} s | directory ${s('putDir')} s | ${(median(out.putStream) / median(out.putDir)).toFixed(2)}x | GET stream ${s('getStream')} s | directory ${s('getDir')} s | ${(median(out.getStream) / median(out.getDir)).toFixed(2)}x |`,
  )
} finally {
  client.close()
  await store.close()
  await server.close()
  rmSync(dir, { recursive: true, force: true })
}
