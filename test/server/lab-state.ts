import t from 'tap'
import { spawn } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:net'
import { join } from 'node:path'
import { acquireLock, assertNotRunning, checkRunUser, choosePort, DEFAULT_PORT, lockFile, lockHolder, LabError } from '../../src/server/lab-state.js'
import { isAlive } from '../../src/server/compute/processes.js'
import { tempDir } from '../helpers/lab.js'

const listen = (port: number): Promise<Server | undefined> =>
  new Promise((done) => {
    const s = createServer()
    s.once('error', () => done(undefined))
    s.listen({ host: '127.0.0.1', port, exclusive: true }, () => done(s))
  })

t.test("our own defaults, not upstream Trove's", async (t) => {
  t.not(DEFAULT_PORT, 8779)
})

t.test('one server per data dir: a second lock is refused in one line naming the holder', async (t) => {
  const dir = join(tempDir(t, 'tl'), 'lab')
  const release = acquireLock(dir)
  t.equal(lockHolder(dir), process.pid)
  t.throws(() => acquireLock(dir, 424242), { name: 'LabError', message: `a lab server (pid ${process.pid}) already runs on data dir ${dir}` })
  t.throws(() => assertNotRunning(dir), LabError)
  release()
  t.notOk(existsSync(lockFile(dir)), 'released')
  t.doesNotThrow(() => assertNotRunning(dir))
})

t.test('a stale lock (dead pid, or a recycled pid) is taken over', async (t) => {
  const dir = join(tempDir(t, 'tl'), 'lab')
  const child = spawn('sleep', ['60'])
  t.teardown(() => {
    child.kill()
  })
  await new Promise((r) => child.once('spawn', r))
  acquireLock(dir, child.pid!)
  t.equal(lockHolder(dir), child.pid, 'the live holder')
  child.kill('SIGKILL')
  await new Promise((r) => child.once('exit', r))
  t.notOk(isAlive(child.pid), 'holder gone')
  t.equal(lockHolder(dir), undefined, 'a dead holder holds nothing')
  const release = acquireLock(dir)
  t.equal(lockHolder(dir), process.pid)
  release()
  // Our pid with another start time: the pid was recycled by an unrelated process.
  writeFileSync(lockFile(dir), `${process.pid} 1\n`)
  t.equal(lockHolder(dir), undefined, 'a recycled pid holds nothing')
  acquireLock(dir)()
})

t.test('ports: the default when free, else the next free one (said); an explicit taken port is refused', async (t) => {
  const blocker = await listen(0)
  const taken = (blocker!.address() as { port: number }).port
  t.teardown(() => blocker!.close())
  await t.rejects(choosePort('127.0.0.1', taken, undefined), { name: 'LabError', message: `port ${taken} on 127.0.0.1 is in use` })
  t.same(await choosePort('127.0.0.1', 0, undefined), { port: 0 }, '0: any free port')
  // The previous run's port is preferred while it is free.
  const prev = await choosePort('127.0.0.1', undefined, taken)
  t.not(prev.port, taken, 'a taken previous port is skipped')
  // Hold the default (when nobody else does) and see the lab move on and say so.
  const def = await listen(DEFAULT_PORT)
  t.teardown(() => def?.close())
  const r = await choosePort('127.0.0.1', undefined, undefined)
  t.not(r.port, DEFAULT_PORT)
  t.match(r.note, new RegExp(`^port ${DEFAULT_PORT} is in use: using (any free port|port \\d+)`))
  if (r.port)
    t.ok(
      await listen(r.port).then((s) => {
        s?.close()
        return !!s
      }),
      'the chosen port is free',
    )
})

t.test('a host without the engine user is told to run the set-up', async (t) => {
  if (process.getuid?.() !== 0) {
    t.plan(0, 'only checked as root')
    return
  }
  t.throws(() => checkRunUser('no-such-user-xyz'), {
    name: 'LabError',
    message: 'the engine user no-such-user-xyz does not exist: this host is not set up',
    hint: 'bash scripts/setup.sh (as root, in a clone of trove)',
  })
  t.doesNotThrow(() => checkRunUser('root'))
})

t.test('the lock file holds pid and start time', async (t) => {
  const dir = join(tempDir(t, 'tl'), 'lab')
  const release = acquireLock(dir)
  t.match(readFileSync(lockFile(dir), 'utf8'), new RegExp(`^${process.pid} \\d+\\n$`))
  release()
})
