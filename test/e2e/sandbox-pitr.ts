// Continuous archiving and restore to a point in time for sandboxed instances (issue 15 in a sandbox,
// docs/pitr.md "From a sandbox"), per engine, end to end: the archiver writes in the instance's volume,
// the agent ships each segment through the server's object store (which writes the archive and its
// sidecars), a restore in a new sandbox fetches what its RestoreSpec grants. A writer commits a row
// every 10 ms: a restore to a time T in the middle has exactly the rows committed by T; after kill -9
// of the engine and the agent, a restore to the latest time misses at most 1 s. The attack side: a
// shell as the instance's user, with its agent's credential, tries the archive container.
import t, { type Test } from 'tap'
import { createHash } from 'node:crypto'
import { existsSync, lstatSync, readdirSync, readFileSync, symlinkSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import mariadb from 'mariadb'
import pg from 'pg'
import { execInSandbox } from '../../src/server/compute/sandbox.js'
import { removeSandboxLab } from '../../src/server/compute/sandbox-lab.js'
import type { SandboxedCompute } from '../../src/server/compute/sandboxed.js'
import { archiveDirOf, type ArchiveSegment } from '../../src/protocol/index.js'
import type { Instance, TroveClient } from '../../src/sdk/index.js'
import { until } from '../helpers/chaos.js'
import { labClient, startLab } from '../helpers/lab.js'
import { sharedSandboxTemplates } from '../helpers/sandbox-templates.js'
import { rowWriter, rpoOf, type RowSink } from '../helpers/pitr.js'
import { fromInside } from '../helpers/sandbox-store.js'
import { sandboxLacking } from '../helpers/sandbox-host.js'

const why = sandboxLacking(['mariadb', 'postgresql'])
if (why) t.plan(0, why)

type Engine = 'postgresql' | 'mariadb'

/** What the test does with each engine: a connection as u1 (or root), and where its pid file is. */
const ENGINES: Record<Engine, { sink(ip: string): Promise<RowSink & { query(q: string): Promise<unknown> }>; pidFile: string }> = {
  postgresql: {
    async sink(ip) {
      const c = new pg.Client({ host: ip, port: 5432, user: 'u1', password: 'Pw-one-1', database: 'd1', connectionTimeoutMillis: 5000 })
      c.on('error', () => undefined)
      await c.connect()
      return { insert: (id) => c.query('INSERT INTO t VALUES ($1)', [id]), end: () => c.end(), query: (q) => c.query(q) }
    },
    pidFile: 'data/postmaster.pid',
  },
  mariadb: {
    async sink(ip) {
      const c = await mariadb.createConnection({ host: ip, port: 3306, user: 'u1', password: 'Pw-one-1', database: 'd1', connectTimeout: 5000 })
      c.on('error', () => undefined)
      return { insert: (id) => c.query('INSERT INTO t VALUES (?)', [id]), end: () => c.end(), query: (q) => c.query(q) }
    },
    pidFile: 'run/mysqld.pid',
  },
}

async function ids(engine: Engine, ip: string): Promise<number[]> {
  const c = await ENGINES[engine].sink(ip)
  try {
    const r = (await c.query('SELECT id FROM t ORDER BY id')) as { rows?: Array<{ id: number }> } & Array<{ id: number }>
    return (r.rows ?? r).map((x) => Number(x.id))
  } finally {
    await c.end()
  }
}

async function waitInstance(client: TroveClient, id: string, from: string): Promise<Instance> {
  const deadline = Date.now() + 600_000
  for (;;) {
    const i = await client.instances.get(id)
    if (i.status !== from || Date.now() > deadline) return i
    await (client.instances.changed(id, from, 20_000) ?? sleep(200))
  }
}

async function createActive(t: Test, c: SandboxedCompute, client: TroveClient, body: Parameters<TroveClient['instances']['create']>[0]): Promise<Instance> {
  const made = await client.instances.create(body)
  const inst = await waitInstance(client, made.id, 'BUILD')
  if (inst.status !== 'ACTIVE') {
    const log = (f: string) => (existsSync(f) ? readFileSync(f, 'utf8').slice(-3000) : '')
    t.fail(`${body.name}: ${inst.status}; sandbox.log: ${log(join(c.instanceDir(made.id), 'sandbox.log'))} agent.log: ${log(join(c.instanceDir(made.id), 'mnt', 'agent.log'))}`)
  }
  return inst
}

const sha256 = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex')
const SIDECAR = '.seg.json'

t.test('sandboxed instances archive through the store and restore to a point in time', async (t) => {
  const lab = await startLab(t, { isolation: 'sandbox', reconcileMs: 0, ...sharedSandboxTemplates })
  const c = lab.server.lab.compute as SandboxedCompute
  t.teardown(() => removeSandboxLab(c))
  const client = labClient(lab.cloudsFile)
  const sources: Partial<Record<Engine, { inst: Instance; sealed: string }>> = {}
  const shown = async (id: string) => (await client.instances.get(id)) as Instance & { latest_restorable_time?: string | null; earliest_restorable_time?: string | null }

  for (const engine of ['postgresql', 'mariadb'] as const) {
    await t.test(engine, async (t) => {
      const src = await createActive(t, c, client, {
        name: `pitr-${engine}`,
        flavorRef: '1',
        volume: { size: 1 },
        datastore: { type: engine },
        databases: [{ name: 'd1' }],
        users: [{ name: 'u1', password: 'Pw-one-1', databases: [{ name: 'd1' }] }],
      })
      if (src.status !== 'ACTIVE') return
      const ip = src.ip![0]!
      await until(async () => (await shown(src.id)).archive?.state === 'streaming', 120_000, `${engine}: the archive streaming`)
      t.pass(`${engine}: a sandboxed instance archives (archive.state streaming)`)
      const setup = await ENGINES[engine].sink(ip)
      await setup.query('CREATE TABLE t (id int PRIMARY KEY)')
      await setup.end()

      const w = rowWriter(() => ENGINES[engine].sink(ip))
      await until(() => w.commits.length >= 100 || !!w.failed, 60_000, `${engine}: 100 rows written`)
      const made = await client.backups.create({ name: `base-${engine}`, instance: src.id })
      await until(async () => !['NEW', 'BUILDING', 'SAVING'].includes((await client.backups.get(made.id)).status), 300_000, `${engine}: the backup`)
      t.equal((await client.backups.get(made.id)).status, 'COMPLETED', `${engine}: a full backup taken while the writer runs`)
      const afterBackup = w.commits.length
      const from = Date.now()
      await until(() => w.commits.some((x) => x.sent >= Math.floor(from / 1000) * 1000 + 3000) || !!w.failed, 60_000, `${engine}: rows three seconds on`)
      await until(() => w.commits.length >= afterBackup + 200 || !!w.failed, 120_000, `${engine}: 200 more rows`)
      t.notOk(w.failed, `${engine}: the writer ran without an error`)

      // T, and the rows a restore to T must and must not have. PostgreSQL: to the microsecond, just
      // after a row's acknowledgement and before the next was sent. MariaDB: the binlog stamps whole
      // seconds (docs/pitr-mariadb.md), so T's second is replayed whole.
      let T: number
      let must: number[]
      let mustNot: Set<number>
      if (engine === 'postgresql') {
        const mid = w.commits.slice(afterBackup + 50).findIndex((x, i, a) => a[i + 1] && a[i + 1]!.sent - x.ack >= 4)
        const row = w.commits[afterBackup + 50 + mid]!
        T = row.ack + 2
        must = w.commits.filter((x) => x.ack <= row.ack).map((x) => x.id)
        mustNot = new Set(w.commits.filter((x) => x.sent > T).map((x) => x.id))
      } else {
        T = Math.floor(from / 1000) * 1000 + 1500
        const secondEnd = Math.floor(T / 1000) * 1000 + 1000
        must = w.commits.filter((x) => x.ack < secondEnd).map((x) => x.id)
        mustNot = new Set(w.commits.filter((x) => x.sent >= secondEnd).map((x) => x.id))
      }
      const reach = engine === 'postgresql' ? T : Math.floor(T / 1000) * 1000 + 1000
      await until(async () => Date.parse((await shown(src.id)).latest_restorable_time ?? '0') >= reach, 60_000, `${engine}: the window to pass T`)
      const win = await shown(src.id)
      t.ok(Date.parse(win.earliest_restorable_time ?? '') <= T, `${engine}: T ${new Date(T).toISOString()} in the window ${win.earliest_restorable_time} .. ${win.latest_restorable_time}`)

      const t0 = Date.now()
      const at = await createActive(t, c, client, {
        name: `pitr-${engine}-at`,
        flavorRef: '1',
        volume: { size: 1 },
        restorePoint: { instanceRef: src.id, restoreTime: new Date(T).toISOString() },
      })
      const atMs = Date.now() - t0
      if (at.status === 'ACTIVE') {
        t.equal(at['lab:isolation'], 'sandbox', `${engine}: the restore to T has a sandbox of its own`)
        const got = await ids(engine, at.ip![0]!)
        t.same(
          got,
          got.map((_, i) => i + 1),
          `${engine}: the rows restored to T have no hole`,
        )
        t.ok(
          must.every((id) => got.includes(id)),
          `${engine}: every row committed by T is there (${must.length} rows)`,
        )
        t.notOk(
          got.some((id) => mustNot.has(id)),
          `${engine}: no row committed after T is there (${got.length} restored)`,
        )
        if (engine === 'postgresql') t.equal(got.length, must.length, 'postgresql: exactly the rows committed by T')
        t.comment(`sandbox pitr ${engine}: restore to T in ${atMs} ms`)
        await client.instances.delete(at.id)
      }

      // More log than one segment: sealed segments reach the store, and leave the volume.
      const big = await ENGINES[engine].sink(ip)
      if (engine === 'postgresql') await big.query("CREATE TABLE big AS SELECT repeat('x', 1000) AS v FROM generate_series(1, 40000)")
      await big.end()
      if (engine === 'mariadb') {
        const root = await client.root.enable(src.id)
        const r = await mariadb.createConnection({ host: ip, port: 3306, user: 'root', password: root.password, connectTimeout: 5000 })
        for (let i = 0; i < 3; i++) await r.query('FLUSH BINARY LOGS')
        await r.end()
      }
      const store = archiveDirOf(c.backupsDir, src.id)
      const sealed = () => readdirSync(store).filter((n) => n.endsWith(SIDECAR))
      await until(() => sealed().length >= 3, 120_000, `${engine}: three sealed segments in the store`)
      for (const n of sealed()) {
        const seg = JSON.parse(readFileSync(join(store, n), 'utf8')) as ArchiveSegment
        const file = join(store, seg.name)
        const st = lstatSync(file)
        t.ok(st.isFile() && st.uid === 0 && (st.mode & 0o777) === 0o600, `${engine}: ${seg.name} is the server's file (root, 0600)`)
        t.equal(seg.sha256, sha256(file), `${engine}: ${seg.name}: the sidecar's sha256 is the stored file's`)
        t.equal(seg.bytes, st.size, `${engine}: ${seg.name}: its size`)
      }
      const local = join(c.instanceDir(src.id), 'mnt', 'archive')
      await until(() => readdirSync(local).filter((n) => n.endsWith(SIDECAR)).length <= 1, 30_000, `${engine}: the volume keeps one sealed segment`)
      t.ok(readdirSync(local).filter((n) => n.endsWith(SIDECAR)).length <= 1, `${engine}: stored segments are removed from the volume (left: ${readdirSync(local).join(' ')})`)
      // A temporary file exists while an upload is in flight (every 0.25 s): none stays.
      const tmps = readdirSync(store).filter((n) => n.endsWith('.tmp'))
      await until(() => !readdirSync(store).some((n) => tmps.includes(n)), 30_000, `${engine}: in-flight temporary files gone`)
      t.pass(`${engine}: no temporary file stays in the store`)

      // A link planted in the local archive (by the tenant) is not followed, nor shipped.
      const planted = '000000FF.history'
      symlinkSync('/var/lib/trove-instance/agent.json', join(local, planted))
      const plantedAt = Date.now()
      await until(async () => Date.parse((await shown(src.id)).latest_restorable_time ?? '0') > plantedAt + 1000, 60_000, `${engine}: shipping goes on`)
      t.notOk(existsSync(join(store, planted)), `${engine}: a link in the volume's archive is not shipped`)
      t.equal((await shown(src.id)).archive?.state, 'streaming', `${engine}: and the archive streams on`)

      // kill -9 of the engine and the agent (inside the sandbox) while the writer runs; restore the latest.
      const n = w.commits.length
      await until(() => w.commits.length >= n + 100 || !!w.failed, 60_000, `${engine}: 100 more rows`)
      const base = '/var/lib/trove-instance'
      const killed = await execInSandbox(c.runtime, src.id, ['sh', '-c', `kill -9 $(head -1 ${base}/${ENGINES[engine].pidFile}) $(cat ${base}/agent.pid)`])
      t.equal(killed.code, 0, `${engine}: engine and agent killed (${killed.stderr.trim()})`)
      await w.done
      t.ok(w.failed, `${engine}: the writer saw the engine go`)
      const acked = w.commits
      const latest = await createActive(t, c, client, { name: `pitr-${engine}-latest`, flavorRef: '1', volume: { size: 1 }, restorePoint: { instanceRef: src.id, latest: true } })
      if (latest.status === 'ACTIVE') {
        const { missing, tailOnly, rpoMs } = rpoOf(acked, new Set(await ids(engine, latest.ip![0]!)))
        t.ok(tailOnly, `${engine}: only a tail is missing, no hole`)
        t.ok(rpoMs <= 1000, `${engine}: RPO after kill -9 of engine and agent: ${missing.length} acknowledged rows missing, ${rpoMs} ms of commits (goal <= 1000 ms)`)
        t.comment(`sandbox pitr ${engine}: RPO ${rpoMs} ms (${missing.length} of ${acked.length} rows)`)
      }
      sources[engine] = { inst: src, sealed: sealed()[0]!.slice(0, -SIDECAR.length) }
    })
  }

  const a = sources.postgresql
  const b = sources.mariadb
  if (!a || !b) return t.fail('no two sandboxed sources to attack from')
  // The attacker: a shell as a's user in a's sandbox (whose agent was killed: its credential still
  // works), holding its agent's credential, on the archive container.
  const P = '/v1/trove/archive'
  const seal = { 'x-archive-first-time': '', 'x-archive-last-time': '' }
  const got = await fromInside(c, a.inst.id, [
    { method: 'PUT', path: `${P}/${b.inst.id}/mysql-bin.000900`, body: 10 },
    { method: 'GET', path: `${P}/${b.inst.id}` },
    { method: 'GET', path: `${P}/${b.inst.id}/${b.sealed}` },
    { method: 'GET', path: `${P}/${a.inst.id}/${a.sealed}` },
    { method: 'PUT', path: `${P}/${a.inst.id}/evil.txt`, body: 10 },
    { method: 'PUT', path: `${P}/${a.inst.id}/${a.sealed}${SIDECAR}`, body: 10 },
    { method: 'PUT', path: `${P}/${a.inst.id}/${a.sealed}`, body: 10, headers: seal },
    { method: 'PUT', path: `${P}/${a.inst.id}/${a.sealed}.partial`, body: 10 },
    { method: 'DELETE', path: `${P}/${a.inst.id}/${a.sealed}` },
    { method: 'PUT', path: `${P}/${a.inst.id}/00000001000000FF000000FF.partial`, body: (16 << 20) + 1 },
    { method: 'PUT', path: `${P}/${a.inst.id}/00000001000000FF000000FF.partial`, length: 2 ** 31 },
    { method: 'PUT', path: `${P}/${a.inst.id}/../${b.inst.id}/mysql-bin.000900`, body: 10 },
    { method: 'PUT', path: `${P}/${a.inst.id}/00000001000000FF000000FE`, body: 10, headers: seal },
  ])
  t.same(
    got,
    [403, 403, 403, 403, 403, 403, 409, 409, 403, 413, 413, 400, 422],
    "another instance's archive (write, list, read): 403; its own read back or deleted: 403; a name outside the pattern or a sidecar: 403; overwrite of a stored segment, sealed or open: 409; over a segment's size: 413; a crafted path: 400; a sealed WAL segment that is not whole: 422",
  )
  t.notOk(existsSync(join(archiveDirOf(c.backupsDir, b.inst.id), 'mysql-bin.000900')), "nothing written into the other instance's archive")
  t.notOk(existsSync(join(archiveDirOf(c.backupsDir, a.inst.id), '00000001000000FF000000FE')), 'the refused segment left no file')
  t.equal(
    sha256(join(archiveDirOf(c.backupsDir, a.inst.id), a.sealed)),
    (JSON.parse(readFileSync(join(archiveDirOf(c.backupsDir, a.inst.id), a.sealed + SIDECAR), 'utf8')) as ArchiveSegment).sha256,
    'the stored segment is unchanged',
  )
})
