// Backups, restores and log publishing of sandboxed instances through the server-written stream (the
// object store on the lab gateway, src/server/object-store/), per engine, end to end; and the attack side:
// a shell as the instance's user inside its sandbox, holding its agent's credentials, tries the store.
import t, { type Test } from 'tap'
import { execFileSync } from 'node:child_process'
import { closeSync, existsSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, statSync, symlinkSync, writeFileSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { execInSandbox } from '../../src/server/compute/sandbox.js'
import { removeSandboxLab } from '../../src/server/compute/sandbox-lab.js'
import type { SandboxedCompute } from '../../src/server/compute/sandboxed.js'
import { backupStore } from '../../src/server/db/backups.js'
import type { Backup, Instance, TroveClient } from '../../src/sdk/index.js'
import { labClient, startLab } from '../helpers/lab.js'
import { sharedSandboxTemplates } from '../helpers/sandbox-templates.js'
import { engineClient, writeRows } from '../helpers/clients.js'
import { sandboxLacking } from '../helpers/sandbox-host.js'

const why = sandboxLacking(['redis', 'mariadb', 'postgresql'])
if (why) t.plan(0, why)

const count = (engine: string, ip: string, user: string, pw: string): number =>
  Number(engine === 'redis' ? engineClient(engine, ip, user, pw, 'DBSIZE\n') : engineClient(engine, ip, user, pw, 'SELECT count(*) FROM t;'))

async function waitInstance(client: TroveClient, id: string, from: string): Promise<Instance> {
  const deadline = Date.now() + 600_000
  for (;;) {
    const i = await client.instances.get(id)
    if (i.status !== from || Date.now() > deadline) return i
    await (client.instances.changed(id, from, 20_000) ?? sleep(200))
  }
}

async function waitBackup(client: TroveClient, id: string): Promise<Backup> {
  const deadline = Date.now() + 600_000
  for (;;) {
    const b = await client.backups.get(id)
    if (!['NEW', 'BUILDING', 'SAVING'].includes(b.status) || Date.now() > deadline) return b
    await sleep(200)
  }
}

async function createActive(t: Test, c: SandboxedCompute, client: TroveClient, body: Parameters<TroveClient['instances']['create']>[0]): Promise<Instance> {
  const made = await client.instances.create(body)
  const inst = await waitInstance(client, made.id, 'BUILD')
  if (inst.status !== 'ACTIVE') {
    const log = (f: string) => {
      try {
        return readFileSync(f, 'utf8').slice(-3000)
      } catch {
        return ''
      }
    }
    t.fail(`${body.name}: ${inst.status}; sandbox.log: ${log(join(c.instanceDir(made.id), 'sandbox.log'))} agent.log: ${log(join(c.instanceDir(made.id), 'mnt', 'agent.log'))}`)
  }
  return inst
}

/**
 * Runs node inside the instance's sandbox as its user (runc exec: its namespaces, its uid) with a
 * script that reads the agent's bootstrap (its credentials and the store's URL) and makes the given
 * requests; returns each one's HTTP status (or the error code).
 */
async function fromInside(c: SandboxedCompute, id: string, reqs: Array<{ method: string; path: string; body?: number; length?: number; auth?: 'none' | 'wrong' }>): Promise<Array<number | string>> {
  const script = `
const https = require('node:https'); const fs = require('node:fs')
const b = JSON.parse(fs.readFileSync('/var/lib/trove-instance/agent.json', 'utf8'))
const u = new URL(b.objectStore.url)
const reqs = JSON.parse(process.argv[1])
const one = (r) => new Promise((resolve) => {
  const headers = {}
  if (r.auth !== 'none') headers.Authorization = 'Basic ' + Buffer.from(b.mqtt.username + ':' + (r.auth === 'wrong' ? 'x' + b.mqtt.password : b.mqtt.password)).toString('base64')
  if (r.length !== undefined) headers['Content-Length'] = String(r.length)
  const q = https.request({ method: r.method, host: u.hostname, port: u.port, path: r.path, ca: b.mqtt.ca, headers, agent: false }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode)) })
  q.on('error', (e) => resolve(e.code || e.message))
  if (r.body) { const chunk = Buffer.alloc(65536, 120); let left = r.body; const pump = () => { while (left > 0) { const n = Math.min(left, chunk.length); left -= n; if (!q.write(chunk.subarray(0, n))) return q.once('drain', pump) } q.end() }; pump() }
  else q.end()
})
;(async () => { const out = []; for (const r of reqs) out.push(await one(r)); process.stdout.write(JSON.stringify(out)) })()
`
  const r = await execInSandbox(c.runtime, id, [process.execPath, '-e', script, JSON.stringify(reqs)], 120_000)
  if (r.code !== 0) throw new Error(`node in the sandbox failed: ${r.stderr}`)
  return JSON.parse(r.stdout) as Array<number | string>
}

t.test('sandboxed instances: backup, restore into a new sandbox, log publish; the store refuses what is not granted', async (t) => {
  const lab = await startLab(t, { isolation: 'sandbox', reconcileMs: 0, ...sharedSandboxTemplates })
  const c = lab.server.lab.compute as SandboxedCompute
  t.teardown(() => removeSandboxLab(c))
  const client = labClient(lab.cloudsFile)
  const admin = labClient(lab.cloudsFile, {}, 'trove-lab-admin')
  const sources: Record<string, { inst: Instance; full: Backup }> = {}

  for (const engine of ['redis', 'mariadb', 'postgresql']) {
    await t.test(engine, async (t) => {
      const users = engine === 'redis' ? {} : { databases: [{ name: 'd1' }], users: [{ name: 'u1', password: 'Pw-one-1', databases: [{ name: 'd1' }] }] }
      const inst = await createActive(t, c, client, { name: `sb-${engine}`, flavorRef: '1', volume: { size: 1 }, datastore: { type: engine }, ...users })
      if (inst.status !== 'ACTIVE') return
      t.equal(inst['lab:isolation'], 'sandbox')
      const ip = inst.ip![0]!
      const cred = async (id: string): Promise<[string, string]> => (engine === 'redis' ? ['root', (await client.root.enable(id)).password] : ['u1', 'Pw-one-1'])
      const [user, pw] = await cred(inst.id)
      writeRows(engine, ip, user, pw, 1, 100)

      const full = await waitBackup(client, (await client.backups.create({ name: `full-${engine}`, instance: inst.id })).id)
      t.equal(full.status, 'COMPLETED', `${engine}: full backup of a sandboxed instance COMPLETED${full.status === 'FAILED' ? ` (${JSON.stringify(full)})` : ''}`)
      if (full.status !== 'COMPLETED') return
      const file = join(c.backupsDir, readdirSync(c.backupsDir).find((n) => n.startsWith(`${full.id}.`) && !n.endsWith('.meta.json'))!)
      const st = lstatSync(file)
      t.ok(st.isFile() && st.uid === 0 && (st.mode & 0o777) === 0o600, `${engine}: the backup file is the server's (root, 0600)`)
      t.equal(execFileSync('md5sum', [file], { encoding: 'utf8' }).split(' ')[0], backupStore(lab.server.lab.db).get(full.id)?.checksum, `${engine}: its MD5 is the recorded checksum`)
      t.notOk(
        readdirSync(c.backupsDir).some((n) => n.startsWith(`${full.id}.`) && n.endsWith('.tmp')),
        `${engine}: no temporary file of the backup left in the store`,
      )
      sources[engine] = { inst, full }

      writeRows(engine, ip, user, pw, 101, 130)
      let from = full
      if (engine !== 'redis') {
        const inc = await waitBackup(client, (await client.backups.create({ name: `inc-${engine}`, instance: inst.id, incremental: 1 })).id)
        t.match(inc, { status: 'COMPLETED', parent_id: full.id }, `${engine}: incremental backup in the sandbox`)
        if (inc.status !== 'COMPLETED') return
        from = inc
      }
      const restored = await createActive(t, c, client, { name: `sb-${engine}-r`, flavorRef: '1', volume: { size: 1 }, datastore: { type: engine }, restorePoint: { backupRef: from.id } })
      if (restored.status !== 'ACTIVE') return
      t.equal(restored['lab:isolation'], 'sandbox', `${engine}: the restored instance has a sandbox of its own`)
      const [u2, p2] = await cred(restored.id)
      t.equal(count(engine, restored.ip![0]!, u2, p2), engine === 'redis' ? 100 : 130, `${engine}: the data is there after the restore`)

      // Guest log publish and discard, through the store, read back through the API.
      const logName = { redis: 'redis', mariadb: 'error', postgresql: 'general' }[engine]!
      if (engine === 'postgresql') {
        // Its only SYS log is the agent's (outside the sandbox's volume here): the general log, on, after a restart.
        await admin.logs.action(inst.id, logName, { enable: true })
        await client.instances.restart(inst.id)
        t.equal((await waitInstance(client, inst.id, 'REBOOT')).status, 'ACTIVE', 'postgresql: restarted with the general log on')
        engineClient(engine, ip, user, pw, 'SELECT 1;')
      }
      const published = await admin.logs.action(inst.id, logName, { publish: true })
      t.ok(published.published > 0, `${engine}: log ${logName} published (${published.published} bytes)`)
      const text = await admin.logs.contents(inst.id, logName)
      t.match(JSON.stringify(text), /ready (for|to accept) connections|statement: SELECT 1/i, `${engine}: the published ${logName} log reads back through the API`)
      const shown = await admin.logs.action(inst.id, logName, { discard: true })
      t.equal(shown.published, 0, `${engine}: discarded`)
      t.notOk(existsSync(join(c.storageDir, 'database_logs', inst.id, `${engine}-${logName}`)), `${engine}: the published objects are gone`)

      // A flipped byte in the stored full backup: the restore, streamed from the store into the tool, fails before
      // touching any data with a fault naming the checksum (MariaDB's mbstream gives up on the damaged stream early:
      // the fault said "aborted" until the agent read the rest for the checksum). The byte is put back after.
      const flip = () => {
        const fd = openSync(file, 'r+')
        const byte = Buffer.alloc(1)
        const at = Math.floor(statSync(file).size / 2)
        readSync(fd, byte, 0, 1, at)
        byte[0] = byte[0]! ^ 0xff
        writeSync(fd, byte, 0, 1, at)
        closeSync(fd)
      }
      flip()
      const made = await client.instances.create({ name: `sb-${engine}-bad`, flavorRef: '1', volume: { size: 1 }, datastore: { type: engine }, restorePoint: { backupRef: full.id } })
      const bad = await waitInstance(client, made.id, 'BUILD')
      flip()
      t.match(bad, { status: 'ERROR', fault: { message: /failed its checksum verification/ } }, `${engine}: a damaged backup's restore is ERROR with the checksum fault`)
      await client.instances.delete(made.id)
    })
  }

  const a = sources.redis
  const b = sources.postgresql ?? sources.mariadb
  if (!a || !b) return t.fail('no two sandboxed sources to attack from')
  const P = '/v1/trove'
  // The attacker is a shell as a's user in a's sandbox: it reads its own agent's bootstrap.
  const other = b.inst.id
  t.notOk((await execInSandbox(c.runtime, a.inst.id, ['ls', c.backupsDir])).code === 0, "the store's directory is not visible inside the sandbox")
  const pending = 'e2e00000-0000-4000-8000-' + Date.now().toString(16).padStart(12, '0').slice(-12)
  const got = await fromInside(c, a.inst.id, [
    { method: 'GET', path: `${P}/backups/${a.full.id}.rdb`, auth: 'none' },
    { method: 'GET', path: `${P}/backups/${a.full.id}.rdb`, auth: 'wrong' },
    { method: 'GET', path: `${P}/backups/${a.full.id}.rdb` },
    { method: 'GET', path: `${P}/backups/${b.full.id}.tar` },
    { method: 'GET', path: `${P}/backups/${b.full.id}.meta.json` },
    { method: 'PUT', path: `${P}/backups/${b.full.id}.rdb`, body: 10 },
    { method: 'PUT', path: `${P}/backups/${pending}.rdb`, body: 10 },
    { method: 'DELETE', path: `${P}/backups/${a.full.id}.rdb` },
    { method: 'PUT', path: `${P}/database_logs/${other}/postgresql-guest/log-x`, body: 10 },
    { method: 'GET', path: `${P}/database_logs/${other}/postgresql-guest_metafile` },
    { method: 'DELETE', path: `${P}/database_logs/${other}/` },
    { method: 'PUT', path: `${P}/database_logs/${a.inst.id}/../${other}/x`, body: 10 },
    { method: 'PUT', path: `${P}/database_logs/${a.inst.id}/%2e%2e/${other}/x`, body: 10 },
    { method: 'PUT', path: `${P}/database_logs/${a.inst.id}/x%00y`, body: 10 },
    { method: 'PUT', path: `${P}/database_logs//etc/trove-e2e-${pending}`, body: 10 },
    { method: 'PUT', path: `${P}/backups/..%2f..%2ftrove-e2e-${pending}`, body: 10 },
    { method: 'PUT', path: `${P}/database_logs/${a.inst.id}/redis-guest/big`, body: 5 << 20 },
    { method: 'PUT', path: `${P}/database_logs/${a.inst.id}/redis-guest/declared`, length: 2 ** 31 },
    { method: 'PUT', path: `${P}/database_logs/${a.inst.id}/redis-guest/mine`, body: 1000 },
    { method: 'GET', path: `${P}/database_logs/${a.inst.id}/redis-guest/mine` },
  ])
  t.same(
    got,
    [401, 401, 403, 403, 403, 403, 403, 403, 403, 403, 403, 400, 404, 404, 400, 404, 413, 413, 201, 200],
    'no credentials or a wrong one: 401; another backup id, a backup not in its restore chain, another instance logs: 403; crafted names: 400/404; over the limit: 413; its own log prefix: allowed',
  )
  t.notOk(existsSync(`/etc/trove-e2e-${pending}`) || existsSync(join(c.backupsDir, '..', '..', `trove-e2e-${pending}`)), 'nothing written outside the store')
  t.notOk(existsSync(join(c.storageDir, 'database_logs', a.inst.id, 'redis-guest', 'big')), 'the object over the limit has no name')
  t.notOk(
    readdirSync(join(c.storageDir, 'database_logs', a.inst.id, 'redis-guest')).some((n) => n.endsWith('.tmp')),
    'and no temporary file is left',
  )
  t.equal(readFileSync(join(c.storageDir, 'database_logs', a.inst.id, 'redis-guest', 'mine')).length, 1000, 'its own object was written by the server')

  // Symlinks in the store (as if planted): never followed, neither to read nor to write.
  const logDir = join(c.storageDir, 'database_logs', a.inst.id, 'redis-guest')
  const target = join(lab.dataDir, `symlink-target-${pending}`)
  writeFileSync(target, 'host secret\n', { mode: 0o600 })
  symlinkSync(target, join(logDir, 'link'))
  mkdirSync(join(logDir, 'sub'), { mode: 0o700 })
  const linked = await fromInside(c, a.inst.id, [
    { method: 'GET', path: `${P}/database_logs/${a.inst.id}/redis-guest/link` },
    { method: 'PUT', path: `${P}/database_logs/${a.inst.id}/redis-guest/link`, body: 5 },
  ])
  t.same(linked, [404, 201], 'a link in the store is not read through; a PUT replaces the link, not its target')
  t.equal(readFileSync(target, 'utf8'), 'host secret\n', "the link's target is unchanged")
  t.ok(lstatSync(join(logDir, 'link')).isFile(), 'the name is a plain file of the server now')

  // A backup the server asked a for: only that id, write-once, within the volume's limit.
  backupStore(lab.server.lab.db).insert({
    id: pending,
    name: 'pending',
    description: null,
    tenant_id: lab.server.lab.instances.get(a.inst.id)!.tenant_id,
    instance_id: a.inst.id,
    parent_id: null,
    datastore_version_id: null,
    backup_type: 'full',
    storage_driver: null,
  })
  const granted = await fromInside(c, a.inst.id, [
    { method: 'PUT', path: `${P}/backups/${pending}.rdb`, body: 4096 },
    { method: 'PUT', path: `${P}/backups/${pending}.rdb`, body: 10 },
    { method: 'GET', path: `${P}/backups/${pending}.rdb` },
    { method: 'PUT', path: `${P}/backups/${pending}.other`, length: 2 ** 31 },
    { method: 'PUT', path: `${P}/backups/${b.full.id}.rdb`, body: 10 },
    { method: 'DELETE', path: `${P}/backups/${pending}.rdb` },
  ])
  t.same(granted, [201, 409, 403, 413, 403, 204], 'its pending backup: written once (409 after), not readable, over the volume 413; another id still 403; its partial deletable')
  backupStore(lab.server.lab.db).markDeleted(pending, 'FAILED')
})
