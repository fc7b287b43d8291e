// Fault injection for point-in-time recovery (issue 15, item 5): the archiver killed -9 while rows are
// committed (it resumes and no segment is lost), then a restore to the latest time with the server
// killed at the create's steps (lean: launch; long, `npm run chaos`: every step). The resumed
// restore ends ACTIVE with exactly the rows committed before it, none missing, none extra.
import t from 'tap'
import { join } from 'node:path'
import pg from 'pg'
import type { TroveClient } from '../../src/sdk/index.js'
import { tempDir } from '../helpers/lab.js'
import { LONG, byName, clientOf, crashAt, startServer, until, type CrashLab } from '../helpers/chaos.js'
import { detectEngines } from '../../src/server/compute/engines.js'
import { guestPid, running } from '../helpers/guest.js'

const postgres = (await detectEngines()).find((e) => e.manager === 'postgresql')

async function sql<T extends pg.QueryResultRow>(ip: string, text: string): Promise<T[]> {
  const c = new pg.Client({ host: ip, port: 5432, user: 'u1', password: 'Pw-one-1', database: 'd1', connectionTimeoutMillis: 5000 })
  await c.connect()
  try {
    return (await c.query<T>(text)).rows
  } finally {
    await c.end()
  }
}
const rows = async (ip: string) => (await sql<{ id: number }>(ip, 'SELECT id FROM t ORDER BY id')).map((r) => r.id)
/** Commits rows from..to, one transaction each. */
async function commit(ip: string, from: number, to: number): Promise<void> {
  const c = new pg.Client({ host: ip, port: 5432, user: 'u1', password: 'Pw-one-1', database: 'd1' })
  await c.connect()
  try {
    await c.query('CREATE TABLE IF NOT EXISTS t (id int PRIMARY KEY)')
    for (let id = from; id <= to; id++) await c.query('INSERT INTO t VALUES ($1)', [id])
  } finally {
    await c.end()
  }
}

t.test('chaos: the archiver killed, and the server killed mid restore to a point in time', { skip: postgres ? false : 'postgresql is not installed' }, async (t) => {
  const dir = tempDir(t, 'tc')
  const dataDir = join(dir, 'lab')
  const lab: CrashLab = { dataDir, server: await startServer(t, dataDir) }
  const c = (): TroveClient => clientOf(dataDir)
  const src = await c().instances.create({
    name: 'px-src',
    flavorRef: '1',
    volume: { size: 1 },
    datastore: { type: 'postgresql' },
    databases: [{ name: 'd1' }],
    users: [{ name: 'u1', password: 'Pw-one-1', databases: [{ name: 'd1' }] }],
  })
  const shown = async () => (await c().request<{ instance: Record<string, any> }>('GET', `/instances/${src.id}`)).body.instance
  await until(async () => (await shown()).status === 'ACTIVE' && (await shown()).archive?.state === 'streaming', 180_000, 'the source ACTIVE and archiving')
  const ip = (await shown()).ip[0] as string
  await commit(ip, 1, 50)
  const backup = await c().backups.create({ name: 'px-base', instance: src.id })
  await until(async () => (await c().backups.get(backup.id)).status === 'COMPLETED', 180_000, 'the base backup COMPLETED')
  await commit(ip, 51, 100)

  // The archiver (pg_receivewal) killed -9: the agent starts it again, from where the archive stops.
  // Host pids (helpers/guest.ts): a sandbox's pid file holds its own namespace's.
  const receiver = () => guestPid(dataDir, src.id, 'run/pg_receivewal.pid')
  const killed = running(receiver(), 'pg_receivewal')
  process.kill(killed, 'SIGKILL')
  await until(
    () => {
      const now = receiver() ?? 0
      return now > 0 && now !== killed
    },
    60_000,
    'a new archiver',
  )
  await commit(ip, 101, 150)
  const committed = Date.now()
  await until(async () => (await shown()).archive?.state === 'streaming' && Date.parse((await shown()).latest_restorable_time ?? 0) >= committed, 120_000, 'the window past the last commit')
  t.pass('the archiver killed -9 came back streaming, and the window reaches the last commit')

  const want = Array.from({ length: 150 }, (_, i) => i + 1)
  for (const step of LONG ? ['start', 'launch', 'wait'] : ['launch']) {
    const name = `px-rs-${step}`
    await crashAt(t, lab, `create_instance:${step}`, (cl) => cl.instances.create({ name, flavorRef: '1', volume: { size: 1 }, restorePoint: { instanceRef: src.id, latest: true } }))
    const got = await byName(c(), name)
    if (!got) {
      t.pass(`restore to latest killed at ${step} before its row was written: nothing created`)
      continue
    }
    await until(async () => ['ACTIVE', 'ERROR'].includes((await c().instances.get(got.id)).status), 300_000, `${name} ACTIVE or ERROR`)
    const inst = await c().instances.get(got.id)
    t.equal(inst.status, 'ACTIVE', `restore to latest killed at ${step}: ${inst.status}${inst.fault ? ` (${inst.fault.message})` : ''}`)
    if (inst.status === 'ACTIVE') t.same(await rows(inst.ip![0]!), want, 'exactly the 150 rows committed before, none missing, none extra')
    await c().instances.delete(got.id)
  }
  t.notMatch(lab.server.out(), /error \S+ (GET|POST|PUT|PATCH|DELETE) /, 'no request ended in a 500')
})
