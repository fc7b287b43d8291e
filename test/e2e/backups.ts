// Backups and restores through the real CLI against a real lab, per engine (MariaDB, PostgreSQL, Redis).
import t from 'tap'
import { openSync, readSync, writeSync, closeSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { runCli, startServerProcess, tempDir } from '../helpers/lab.js'
import { processesUnder } from '../../src/server/compute/processes.js'
import { engineClient, writeRows } from '../helpers/clients.js'

const N = 100
const M = 30

function count(engine: string, ip: string, user: string, pw: string): number {
  return Number(engine === 'redis' ? engineClient(engine, ip, user, pw, 'DBSIZE\n') : engineClient(engine, ip, user, pw, 'SELECT count(*) FROM t;'))
}

t.test('backup and restore per engine through the CLI', async (t) => {
  const dir = tempDir(t, 'tb')
  const server = await startServerProcess(t, join(dir, 'lab'))
  const env = server.env
  const cli = (...args: string[]) => runCli(args, env)
  const json = async (...args: string[]) => {
    const r = await cli(...args, '-f', 'json')
    if (r.code !== 0) throw new Error(`trove ${args.join(' ')}: exit ${r.code}: ${r.stderr.trim().split('\n').pop()}`)
    return JSON.parse(r.stdout)
  }
  const create = (name: string, engine: string, extra: string[]) =>
    json('instance', 'create', name, '--flavor', 'm1.tiny', '--size', '1', '--datastore', engine, ...extra, '--wait', '--timeout', '180')
  /** Redis keeps no users in its data: its root is enabled (again) per instance. */
  const credentials = async (engine: string, name: string): Promise<[string, string]> => (engine === 'redis' ? ['root', (await json('root', 'enable', name)).password as string] : ['u1', 'Pw-one-1'])

  for (const engine of ['mariadb', 'postgresql', 'redis']) {
    await t.test(engine, async (t) => {
      const src = `src-${engine}`
      const inst = await create(src, engine, engine === 'redis' ? [] : ['--databases', 'd1', '--users', 'u1:Pw-one-1'])
      const [user, pw] = await credentials(engine, src)
      writeRows(engine, inst.ip, user, pw, 1, N)
      t.equal(count(engine, inst.ip, user, pw), N, `${engine}: ${N} rows written with the engine's own client`)

      const full = await json('backup', 'create', `full-${engine}`, '--instance', src, '--description', 'first', '--wait', '--timeout', '180')
      t.match(full, { name: `full-${engine}`, status: 'COMPLETED', instance_id: inst.id, parent_id: null, datastore: engine, description: 'first' }, `${engine}: full backup COMPLETED`)
      t.ok(full.size > 0 && /^[^ ]+$/.test(full.locationRef), `${engine}: size and location recorded`)
      writeRows(engine, inst.ip, user, pw, N + 1, N + M)

      let restoreFrom = full
      if (engine !== 'redis') {
        const inc = await json('backup', 'create', `inc-${engine}`, '--instance', src, '--incremental', '--wait', '--timeout', '180')
        t.match(inc, { status: 'COMPLETED', parent_id: full.id }, `${engine}: incremental on top of the full backup`)
        restoreFrom = inc
      } else {
        const r = await cli('backup', 'create', 'inc-redis', '--instance', src, '--incremental')
        t.equal(r.code, 1, 'redis: no incremental backups')
        t.match(r.stderr, /Incremental backups are not supported by datastore redis.*\(HTTP 400\)/, 'redis: a clear 400')
      }
      const listed = await json('backup', 'list', 'instance', src)
      t.equal(listed.length, engine === 'redis' ? 1 : 2, `${engine}: backup list instance`)

      const rf = await create(`rf-${engine}`, engine, ['--backup', `full-${engine}`])
      t.equal(rf.status, 'ACTIVE', `${engine}: restored the full backup into a new instance`)
      const [ru, rp] = await credentials(engine, rf.name)
      t.equal(count(engine, rf.ip, ru, rp), N, `${engine}: the full restore has ${N} rows`)
      // The project's quota is 10 instances: make room. --wait: an instance still being deleted
      // when the final cleanup lists the instances could be gone by the time that deletes it by name.
      t.equal((await cli('instance', 'delete', rf.id, '--wait', '--timeout', '120')).code, 0, `${engine}: the first restored instance deleted`)
      if (engine !== 'redis') {
        const ri = await create(`ri-${engine}`, engine, ['--backup', restoreFrom.id])
        t.equal(count(engine, ri.ip, ru, rp), N + M, `${engine}: the incremental restore has ${N + M} rows`)
        writeRows(engine, ri.ip, ru, rp, N + M + 1, N + M + 1)
        t.equal(count(engine, ri.ip, ru, rp), N + M + 1, `${engine}: the restored instance takes writes`)
      }

      // A flipped byte: the restore fails before touching any data, with a fault naming the checksum.
      const fd = openSync(full.locationRef, 'r+')
      const b = Buffer.alloc(1)
      const at = Math.floor(statSync(full.locationRef).size / 2)
      readSync(fd, b, 0, 1, at)
      b[0] = b[0]! ^ 0xff
      writeSync(fd, b, 0, 1, at)
      closeSync(fd)
      const bad = await cli('instance', 'create', `bad-${engine}`, '--flavor', 'm1.tiny', '--size', '1', '--backup', full.id, '--wait', '--timeout', '180')
      t.equal(bad.code, 1, `${engine}: the restore of a corrupted backup fails`)
      t.match(bad.stderr, /is ERROR: .*checksum/, `${engine}: ERROR with a fault naming the checksum (${bad.stderr.trim().split('\n').pop()})`)
      const shown = await json('instance', 'show', `bad-${engine}`)
      t.match(shown, { status: 'ERROR', fault: /failed its checksum verification/ }, `${engine}: instance show has the fault`)

      const notActive = await cli('backup', 'create', 'nope', '--instance', `bad-${engine}`)
      t.match(notActive, { code: 1, stderr: /is not currently available for an action to be performed.*\(HTTP 422\)/ }, `${engine}: backing up an instance that is not ACTIVE is refused`)
      // An instance in ERROR shows ERROR while it is deleted: --wait waits until it is gone.
      const gone = await cli('instance', 'delete', `bad-${engine}`, '--wait', '--timeout', '120')
      t.equal(gone.code, 0, `${engine}: the ERROR instance deleted with --wait (${gone.stderr.trim().split('\n').pop()})`)
    })
  }

  const cross = await cli('instance', 'create', 'cross', '--flavor', 'm1.tiny', '--size', '1', '--backup', 'full-mariadb', '--datastore', 'postgresql')
  t.match(
    cross,
    { code: 1, stderr: /The datastore from which the backup was taken, mariadb, does not match the destination datastore of postgresql\. \(HTTP 400\)/ },
    'restoring into another datastore: 400',
  )

  const exec = await cli('backup', 'execution', 'delete', 'x')
  t.match(exec, { code: 1, stderr: /^Backup schedule execution x cannot be found\. \(HTTP 404\) \(Request-ID: req-[0-9a-f-]+\)\n$/ }, 'backup execution delete of an unknown execution: a clear error')

  // Everything goes: instances, then backups (the full takes its incremental with it).
  const names = (await json('instance', 'list')).map((i: { Name: string }) => i.Name)
  const del = await cli('instance', 'delete', ...names, '--wait', '--timeout', '120')
  t.equal(del.code, 0, `instances deleted${del.code ? `: ${del.stderr.trim().split('\n').slice(-3).join(' | ')}` : ''}`)
  const del2 = await cli('backup', 'delete', 'full-mariadb', 'full-postgresql', 'full-redis', '--wait')
  t.equal(del2.code, 0, 'backups deleted')
  t.same(await json('backup', 'list'), [], 'no backups left (incrementals deleted with their parents)')
  t.same(processesUnder(join(dir, 'lab', 'instances')), [], 'no leftover processes')
})
