// The readiness probes' wire protocols, against small fake servers on unix sockets.
import t, { type Test } from 'tap'
import { createServer, type Socket } from 'node:net'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { mariadbPing } from '../../../src/agent/datastores/mariadb/probe.js'
import { postgresPing } from '../../../src/agent/datastores/postgresql/probe.js'
import { dropDriver, keptDrivers } from '../../../src/agent/datastores/drivers.js'
import { redisPing } from '../../../src/agent/datastores/redis/probe.js'

/** Serves one connection with `serve`; returns the socket path. */
async function fake(t: Test, serve: (s: Socket) => void): Promise<string> {
  // Not under t.testdir(): its paths can pass the 107-byte socket limit.
  const dir = mkdtempSync('/tmp/tvp-')
  const path = join(dir, 's')
  const server = createServer(serve)
  await new Promise<void>((r) => server.listen(path, r))
  t.teardown(() => {
    server.close()
    rmSync(dir, { recursive: true, force: true })
  })
  return path
}

const myPacket = (seq: number, payload: Buffer): Buffer => {
  const h = Buffer.alloc(4)
  h.writeUIntLE(payload.length, 0, 3)
  h[3] = seq
  return Buffer.concat([h, payload])
}
const greeting = myPacket(0, Buffer.concat([Buffer.from([10]), Buffer.from('10.11.19-MariaDB\0'), Buffer.alloc(40)]))
const OK = Buffer.from([0, 0, 0, 2, 0, 0, 0])

t.test('MariaDB: greeting, login as root, COM_PING', async (t) => {
  const seen: number[] = []
  const path = await fake(t, (s) => {
    // Split the greeting to check reassembly.
    s.write(greeting.subarray(0, 7))
    setTimeout(() => s.write(greeting.subarray(7)), 5)
    let stage = 0
    s.on('data', (b) => {
      seen.push(b[4]!)
      if (stage === 0) {
        t.match(b.subarray(36).toString(), /^root\0\0mysql_native_password\0$/, 'handshake response for root, no password')
        s.write(myPacket(2, OK))
      } else if (stage === 1) {
        t.equal(b[4], 0x0e, 'COM_PING')
        s.write(myPacket(1, OK))
      }
      stage++
    })
  })
  t.equal(await mariadbPing(path, 1000), true)
})

t.test('MariaDB: access denied is not answering', async (t) => {
  const path = await fake(t, (s) => {
    s.write(greeting)
    s.once('data', () => s.write(myPacket(2, Buffer.concat([Buffer.from([0xff, 0x15, 0x04]), Buffer.from('#28000Access denied')]))))
  })
  t.equal(await mariadbPing(path, 1000), false)
})

t.test('no socket, or a silent server, is not answering', async (t) => {
  t.equal(await mariadbPing('/nonexistent/sock', 1000), false)
  const path = await fake(t, () => {})
  const t0 = Date.now()
  t.equal(await redisPing(path, 'pw', 100), false)
  // Generous for a busy machine: without its 100 ms timeout the ping would never return at all.
  t.ok(Date.now() - t0 < 10_000, 'times out')
})

t.test('PostgreSQL: postmaster.pid must say ready, then ReadyForQuery', async (t) => {
  const dir = t.testdir({ 'postmaster.pid': '1\n/d\n0\n5432\n/r\n*\n0 0\nstarting\n' })
  const pidFile = join(dir, 'postmaster.pid')
  let connections = 0
  const path = await fake(t, (s) => {
    connections++
    s.once('data', (b) => {
      t.match(b.subarray(8).toString(), /^user\0postgres\0database\0postgres\0/, 'startup as postgres')
      const authOk = Buffer.from([0x52, 0, 0, 0, 8, 0, 0, 0, 0])
      const param = Buffer.from([0x53, 0, 0, 0, 8, 0x61, 0, 0x62, 0]) // ParameterStatus a=b
      const ready = Buffer.from([0x5a, 0, 0, 0, 5, 0x49])
      const all = Buffer.concat([authOk, param, ready])
      s.write(all.subarray(0, 12)) // split mid-message
      setTimeout(() => s.write(all.subarray(12)), 5)
    })
  })
  t.teardown(() => dropDriver(`postgresql-probe:${path}`))
  t.equal(await postgresPing(path, pidFile, 1000), false, 'starting: no connection attempted')
  t.equal(connections, 0)
  writeFileSync(pidFile, '1\n/d\n0\n5432\n/r\n*\n0 0\nready   \n')
  t.equal(await postgresPing(path, pidFile, 1000), true)
})

t.test('PostgreSQL: an ErrorResponse (starting up) is not answering', async (t) => {
  const dir = t.testdir({ 'postmaster.pid': '1\n/d\n0\n5432\n/r\n*\n0 0\nready   \n' })
  const path = await fake(t, (s) => {
    s.once('data', () => {
      const msg = Buffer.from('SFATAL\0C57P03\0Mthe database system is starting up\0\0')
      const head = Buffer.from([0x45, 0, 0, 0, 0])
      head.writeInt32BE(4 + msg.length, 1)
      s.write(Buffer.concat([head, msg]))
    })
  })
  t.equal(await postgresPing(path, join(dir, 'postmaster.pid'), 1000), false)
})

t.test('PostgreSQL: one kept session, an empty query per later probe; a silent or closed session is replaced', async (t) => {
  const dir = t.testdir({ 'postmaster.pid': '1\n/d\n0\n5432\n/r\n*\n0 0\nready   \n' })
  const pidFile = join(dir, 'postmaster.pid')
  const sockets: Socket[] = []
  let queries = 0
  let silent = false
  const authOk = Buffer.from([0x52, 0, 0, 0, 8, 0, 0, 0, 0])
  const ready = Buffer.from([0x5a, 0, 0, 0, 5, 0x49])
  const path = await fake(t, (s) => {
    sockets.push(s)
    s.once('data', () => {
      s.write(Buffer.concat([authOk, ready]))
      s.on('data', (b) => {
        if (b[0] !== 0x51) return // Terminate
        t.same([...b], [0x51, 0, 0, 0, 5, 0], 'an empty simple query')
        queries++
        // EmptyQueryResponse, a NoticeResponse sent meanwhile (skipped), ReadyForQuery
        if (!silent) s.write(Buffer.concat([Buffer.from([0x49, 0, 0, 0, 4]), Buffer.from([0x4e, 0, 0, 0, 4]), ready]))
      })
    })
  })
  t.teardown(() => dropDriver(`postgresql-probe:${path}`))
  t.equal(await postgresPing(path, pidFile, 1000), true, 'the first probe opens the session')
  t.equal(await postgresPing(path, pidFile, 1000), true)
  t.same(await Promise.all([postgresPing(path, pidFile, 1000), postgresPing(path, pidFile, 1000)]), [true, true], 'overlapping probes take turns')
  t.equal(sockets.length, 1, 'one session for every probe')
  t.equal(queries, 3)
  silent = true
  t.equal(await postgresPing(path, pidFile, 100), false, 'a server that stops answering (SIGSTOP) times out')
  silent = false
  t.equal(await postgresPing(path, pidFile, 1000), true, 'the next probe opens a new session')
  t.equal(sockets.length, 2)
  const kept = keptDrivers()
  sockets[1]!.destroy()
  // The server ended it: the kept session lets go on its close event (tap's timeout bounds the wait).
  while (keptDrivers() === kept) await sleep(5)
  t.equal(await postgresPing(path, pidFile, 1000), true, 'a session the server ended is replaced')
  t.equal(sockets.length, 3)
  writeFileSync(pidFile, '1\n/d\n0\n5432\n/r\n*\n0 0\nstopping\n')
  t.equal(await postgresPing(path, pidFile, 1000), false, 'stopping: not answering')
  t.equal(keptDrivers(), kept - 1, 'and the session is let go')
})

t.test('Redis: AUTH then PING, only +PONG counts', async (t) => {
  const replies = ['+OK\r\n+PONG\r\n', '-WRONGPASS invalid username-password pair\r\n-NOAUTH Authentication required.\r\n', '+OK\r\n-LOADING Redis is loading\r\n']
  const path = await fake(t, (s) => {
    s.once('data', (b) => {
      t.equal(b.toString(), '*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n*1\r\n$4\r\nPING\r\n')
      const r = replies.shift()!
      s.write(r.slice(0, 3))
      setTimeout(() => s.write(r.slice(3)), 5)
    })
  })
  t.equal(await redisPing(path, 'pw', 1000), true)
  t.equal(await redisPing(path, 'pw', 1000), false, 'wrong password')
  t.equal(await redisPing(path, 'pw', 1000), false, 'loading')
})
