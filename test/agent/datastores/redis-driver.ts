// The agent's Redis connection (redis/driver.ts over redis/resp.ts) against a real redis-server on a unix
// socket: arguments as bulk strings, the server's error texts, a new connection after the engine restarts,
// and what loading the driver costs the agent (issue 13 item 7: the whole node-redis client cost 14 MB of RSS).
import t, { type Test } from 'tap'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createConnection } from 'node:net'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { redisClient } from '../../../src/agent/datastores/redis/driver.js'
import { closeDrivers, keptDrivers } from '../../../src/agent/datastores/drivers.js'
import { AGENT_NODE_FLAGS } from '../../../src/server/compute/local.js'

const PASSWORD = 'Admin pw "with" \\ quotes'

// Not under t.testdir(): its paths can pass the 107-byte socket limit.
const dir = mkdtempSync('/tmp/tvr-')
const socket = join(dir, 'redis.sock')
const secret = join(dir, 'secret')
writeFileSync(secret, PASSWORD + '\n', { mode: 0o600 })
t.teardown(async () => {
  await closeDrivers()
  rmSync(dir, { recursive: true, force: true })
})

const canConnect = () =>
  new Promise<boolean>((resolve) => {
    const s = createConnection(socket)
    s.once('connect', () => {
      s.destroy()
      resolve(true)
    })
    s.once('error', () => resolve(false))
  })

async function until(what: string, cond: () => boolean | Promise<boolean>): Promise<void> {
  for (const end = Date.now() + 120_000; !(await cond()); await new Promise((r) => setImmediate(r))) if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
}

/** A redis-server listening only on the unix socket, its admin password from the secret. */
async function startRedis(t: Test): Promise<ChildProcess> {
  const p = spawn('redis-server', ['-'], { stdio: ['pipe', 'ignore', 'inherit'] })
  p.stdin!.end(`port 0\nunixsocket ${socket}\nunixsocketperm 700\nsave ""\nappendonly no\ndir ${dir}\nrequirepass "${PASSWORD.replace(/["\\]/g, '\\$&')}"\n`)
  t.teardown(() => {
    if (p.exitCode === null) p.kill('SIGKILL')
  })
  await until('redis-server to listen', canConnect)
  return p
}

t.test('arguments are bulk strings, replies come back as lines, error replies keep the server text', async (t) => {
  await startRedis(t)
  const redis = redisClient(socket, secret)
  const evil = 'v\r\n*1\r\n$8\r\nFLUSHALL\r\n "quoted" \t\\ ünï'
  t.same(
    await redis.run([
      ['SET', 'k', evil],
      ['GET', 'k'],
    ]),
    ['OK', ...evil.split(/\r?\n/).filter((l) => l !== '')],
  )
  t.same(await redis.run([['STRLEN', 'k']]), [String(Buffer.byteLength(evil))], 'one argument, every byte of it')
  t.same(await redis.run([['DBSIZE']]), ['1'], 'nothing in the value ran as a command')
  t.same(
    await redis.run([
      ['RPUSH', 'l', 'a', 'b c'],
      ['LRANGE', 'l', '0', '-1'],
    ]),
    ['2', 'a', 'b c'],
    'an array reply is one line per element',
  )
  await t.rejects(redis.run([['NOSUCHCOMMAND', 'x']]), { message: /^ERR unknown command 'NOSUCHCOMMAND'/ })
  t.same(await redis.run([['PING']]), ['PONG'], 'the connection stays usable after an error reply')
  t.equal(keptDrivers(), 1, 'one kept connection')
  writeFileSync(secret, 'wrong\n')
  await t.rejects(redis.run([['PING']]), { message: /^WRONGPASS/ }, 'a changed secret: a new connection, refused with the server text')
  writeFileSync(secret, PASSWORD + '\n')
  await closeDrivers()
})

t.test('after the engine restarts the next command connects again', async (t) => {
  const first = await startRedis(t)
  const redis = redisClient(socket, secret)
  t.same(await redis.run([['PING']]), ['PONG'])
  first.kill('SIGKILL')
  await once(first, 'exit')
  await until('the kept connection to be dropped', () => keptDrivers() === 0)
  await t.rejects(redis.run([['PING']]), { message: /ENOENT|ECONNREFUSED|connect/ }, 'no engine: the connection error')
  await startRedis(t)
  t.same(await redis.run([['PING']]), ['PONG'], 'connected again')
  await closeDrivers()
})

t.test('loading the driver and using it costs the agent (under its V8 flags) little memory', async (t) => {
  const server = await startRedis(t)
  const driver = pathToFileURL(join(import.meta.dirname, '../../../src/agent/datastores/redis/driver.ts')).href
  // The TypeScript is loaded (and compiled) before the baseline; the delta is the first command: the
  // RESP modules' load and the connection.
  const script = `const { redisClient } = await import('${driver}')
const rss = () => { globalThis.gc(); return process.memoryUsage().rss }
const before = rss()
const out = await redisClient('${socket}', '${secret}').run([['PING']])
console.log(JSON.stringify({ out, mb: (rss() - before) / 1e6 }))
process.exit(0)`
  const r = spawnSync(process.execPath, [...AGENT_NODE_FLAGS, '--expose-gc', ...process.execArgv, '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 120_000 })
  t.equal(r.status, 0, 'exit 0 ' + r.stderr.split('\n').slice(0, 3).join(' '))
  const { out, mb } = JSON.parse(r.stdout.trim().split('\n').pop()!) as { out: string[]; mb: number }
  t.same(out, ['PONG'])
  // The whole @redis/client measured 7 to 14 MB here (the former under the test loader); its RESP decoder and encoder 1 MB or less.
  t.ok(mb < 4, `the first Redis command added ${mb.toFixed(1)} MB of RSS (under 4 MB)`)
  server.kill('SIGKILL')
})
