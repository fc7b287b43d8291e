import t from 'tap'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { isAlive, lastMatchingLine, oneLine, readPidFile, readTail, resolveExecutable, settledWithin, socketPathProblem, wrapperArgs } from '../../src/agent/engine-process.js'

const user = { name: 'troveguest', uid: 999, gid: 995 }

t.test('the launcher drops privileges with setpriv and joins cgroups before exec', async (t) => {
  const args = wrapperArgs({ file: 'redis-server', args: ['/x/redis.conf'], asUser: true }, user, ['/cg/memory/a', '/cg/pids/a'])
  t.equal(args[0], '-c')
  t.match(args[1], /^umask 077; .*cgroup\.procs.*exec "\$@"$/)
  t.same(args.slice(2), ['sh', '/cg/memory/a', '/cg/pids/a', '--', 'setpriv', '--reuid=troveguest', '--regid=troveguest', '--init-groups', '--', 'redis-server', '/x/redis.conf'])
  t.same(wrapperArgs({ file: 'mariadbd', args: ['--defaults-file=/c'], asUser: false }, user, []).slice(2), ['sh', '--', 'mariadbd', '--defaults-file=/c'], 'root engines run as is')
})

t.test('an agent that is the run user already (in its sandbox) drops nothing: setpriv --init-groups would need CAP_SETGID', async (t) => {
  t.same(wrapperArgs({ file: 'redis-server', args: ['/x/redis.conf'], asUser: true }, user, [], user.uid).slice(2), ['sh', '--', 'redis-server', '/x/redis.conf'])
  t.same(wrapperArgs({ file: 'redis-server', args: ['/x/redis.conf'], asUser: true }, user, [], 0).slice(2, 5), ['sh', '--', 'setpriv'], 'root still drops')
})

t.test('socket path limit', async (t) => {
  t.equal(socketPathProblem('/' + 'a'.repeat(106)), undefined, '107 bytes is fine')
  t.match(socketPathProblem('/' + 'a'.repeat(107)), /^socket path too long \(108 bytes, max 107\): \//)
})

t.test('log lines', async (t) => {
  t.equal(oneLine('a\n\tb\x1b[0m  c'), 'a b [0m c')
  t.equal(oneLine('x'.repeat(400)).length, 300)
  t.equal(lastMatchingLine('ok\n[ERROR] one\nfine\n[ERROR] two\nend', /\[ERROR\]/), '[ERROR] two')
  t.equal(lastMatchingLine('ok', /\[ERROR\]/), undefined)
})

t.test('files', async (t) => {
  const dir = t.testdir({ pid: '1234\n/data\n', bad: 'nope', log: 'old line\nnew line\n' })
  t.equal(await readPidFile(join(dir, 'pid')), 1234)
  t.equal(await readPidFile(join(dir, 'bad')), undefined)
  t.equal(await readPidFile(join(dir, 'missing')), undefined)
  t.equal(await readTail(join(dir, 'log'), 100, 9), 'new line\n', 'from an offset')
  t.equal(await readTail(join(dir, 'log'), 5), 'line\n', 'last bytes')
  t.equal(await readTail(join(dir, 'missing')), '')
  writeFileSync(join(dir, 'log'), 'short\n')
  t.equal(await readTail(join(dir, 'log'), 100, 50), '', 'offset past a truncated file')
})

t.test('processes', async (t) => {
  t.equal(await isAlive(process.pid), true)
  t.equal(await isAlive(2 ** 22 + 1), false)
  t.equal(await resolveExecutable('sh'), await resolveExecutable('/bin/sh'))
  await t.rejects(resolveExecutable('no-such-binary-here'), /not found/)
})

t.test('settledWithin: true when the promise settles either way in time, false when not; no timer left armed', async (t) => {
  const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length
  const before = timers()
  t.equal(await settledWithin(Promise.resolve(1), 60_000), true, 'resolved')
  t.equal(await settledWithin(Promise.reject(new Error('no')), 60_000), true, 'rejected')
  // The 60 s timers above ended with their promises: one left armed kept a stopping agent alive for 10 s.
  t.equal(timers(), before, 'no timer left armed')
  t.equal(await settledWithin(new Promise(() => undefined), 20), false, 'not settled in time')
})
