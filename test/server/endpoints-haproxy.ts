// The replication sets' endpoints (src/server/endpoints/): a real HAProxy in front of real TCP servers standing
// in for a set's members (each answers its own name): the writer reaches the primary only, the reader spreads
// over the replicas that pass the check (the primary only when none does), a primary moved at run time without a
// reload and its open sessions cut, a change of members by reload, adoption by a new server process, stop.
import t, { type Test } from 'tap'
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { connect, createServer, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { allocate, release } from '../../src/server/compute/addresses.js'
import { Haproxy } from '../../src/server/endpoints/haproxy.js'
import { type EndpointSet, renderConfig } from '../../src/server/endpoints/haproxy-config.js'

/** A member: a TCP server on 127.0.0.1 that writes its name to each connection and keeps it open. */
async function member(name: string): Promise<{ port: number; stop: () => void }> {
  const sockets = new Set<Socket>()
  const server = createServer((c) => {
    sockets.add(c)
    c.on('close', () => sockets.delete(c))
    c.on('error', () => undefined)
    c.write(name)
  })
  await new Promise<void>((r) => server.listen({ host: '127.0.0.1', port: 0 }, r))
  // Stops as a dead engine does: no more listening, every connection gone.
  const stop = () => {
    server.close()
    for (const s of sockets) s.destroy()
  }
  return { port: (server.address() as { port: number }).port, stop }
}

/** Connects to address:port and resolves with the first bytes received and the open socket. */
function dial(address: string, port: number): Promise<{ name: string; close: Promise<void>; end: () => void }> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: address, port })
    const close = new Promise<void>((r) => s.once('close', () => r()))
    s.once('error', reject)
    s.once('close', () => reject(new Error('closed before any data')))
    s.once('data', (b: Buffer) => resolve({ name: b.toString(), close, end: () => s.destroy() }))
  })
}

async function nameAt(address: string, port: number): Promise<string> {
  const c = await dial(address, port)
  c.end()
  return c.name
}

/** Waits until `check` holds (polling); fails the test if it never does within the timeout. */
async function eventually(t: Test, what: string, check: () => Promise<boolean>): Promise<void> {
  const end = Date.now() + 30_000
  while (!(await check().catch(() => false))) {
    if (Date.now() > end) return void t.fail(`${what}: never`)
    await new Promise((r) => setTimeout(r, 50))
  }
  t.pass(what)
}

const inTurn = async (address: string, port: number, n: number): Promise<Set<string>> => {
  const seen = new Set<string>()
  for (let i = 0; i < n; i++) seen.add(await nameAt(address, port))
  return seen
}

t.test('bad input never reaches the configuration file', async (t) => {
  const base: EndpointSet = {
    id: 's1',
    port: 5432,
    writerAddress: '127.0.0.2',
    readerAddress: '127.0.0.3',
    members: [{ id: 'a', address: '127.0.0.4', port: 5432, primary: true }],
  }
  const cfg = (sets: EndpointSet[]) => renderConfig({ adminSocket: '/x/admin.sock', sets, user: 'nobody', group: 'nogroup' })
  t.match(cfg([base]), /listen w-s1\n {2}bind 127\.0\.0\.2:5432\n {2}server a 127\.0\.0\.4:5432\n/, 'a set renders its writer proxy')
  t.throws(() => cfg([{ ...base, id: 's1\n  bind 0.0.0.0:22' }]), /set .* is not a valid name/, 'a set id with a newline')
  t.throws(() => cfg([{ ...base, members: [{ ...base.members[0], id: 'a b' }] }]), /member "a b" is not a valid name/, 'a member id with a space')
  t.throws(() => cfg([{ ...base, writerAddress: 'example.org' }]), /writer address "example\.org" is not an IPv4 address/, 'a host name')
  t.throws(() => cfg([{ ...base, port: 70000 }]), /port 70000 is out of range/, 'a port out of range')
  t.throws(() => cfg([{ ...base, members: [base.members[0], { id: 'b', address: '127.0.0.5', port: 5432, primary: true }] }]), /more than one primary/, 'two primaries')
})

t.test('a real HAProxy serves the writer and reader endpoints of a set', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'trove-endpoints-'))
  const a = await member('A')
  const b = await member('B')
  const c = await member('C')
  // The endpoints' own addresses, probed and claimed like an instance's, on a port the kernel just handed out.
  const probe = await member('probe')
  const port = probe.port
  probe.stop()
  const writerAddress = await allocate(port, dir, new Set())
  const readerAddress = await allocate(port, dir, new Set([writerAddress]))
  const hap = new Haproxy({ dir: join(dir, 'endpoints') })
  t.teardown(async () => {
    await hap.stop()
    for (const m of [a, b, c]) m.stop()
    release(writerAddress, dir)
    release(readerAddress, dir)
    rmSync(dir, { recursive: true, force: true })
  })
  const set = (primary: string, members = [a, b, c]): EndpointSet => ({
    id: 'set-1',
    port,
    writerAddress,
    readerAddress,
    members: members.map((m, i) => ({ id: 'ABC'[[a, b, c].indexOf(m)] ?? String(i), address: '127.0.0.1', port: m.port, primary: 'ABC'[[a, b, c].indexOf(m)] === primary })),
  })

  await hap.apply([set('A')])
  const master = hap.masterPid()
  t.ok(master, `the master runs (pid ${master})`)
  t.equal(statSync(join(dir, 'endpoints', 'haproxy.cfg')).mode & 0o777, 0o600, "the configuration is root's alone")
  const worker = await hap.workerPid()
  const uid = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${worker}/status`, 'utf8'))?.[1]
  t.not(uid, '0', `the worker runs unprivileged (uid ${uid})`)
  t.equal(await nameAt(writerAddress, port), 'A', 'the writer endpoint reaches the primary')
  await eventually(t, 'the reader endpoint spreads over both replicas, never the primary', async () => {
    const seen = await inTurn(readerAddress, port, 4)
    return seen.size === 2 && seen.has('B') && seen.has('C')
  })

  // A promote at run time: no reload; the session open to the old primary is cut, a new one reaches B.
  const open = await dial(writerAddress, port)
  t.equal(open.name, 'A', 'a client holds a session to the old primary')
  await hap.movePrimary('set-1', 'A', 'B')
  await open.close
  t.pass("the old primary's session is cut")
  t.equal(await nameAt(writerAddress, port), 'B', 'the writer endpoint reaches the new primary')
  t.equal(await hap.workerPid(), worker, 'without a reload')
  await t.rejects(hap.movePrimary('set-1', 'B', 'nobody'), /No such server/, 'an unknown member is refused')

  // The records applied: a reload (a new worker), the same writer, the reader now over A and C.
  await hap.apply([set('B')])
  t.not(await hap.workerPid(), worker, 'the new records reload HAProxy')
  t.equal(await nameAt(writerAddress, port), 'B', 'the writer still reaches B after the reload')
  await eventually(t, 'the reader spreads over A and C', async () => {
    const seen = await inTurn(readerAddress, port, 4)
    return seen.size === 2 && seen.has('A') && seen.has('C')
  })
  const worker2 = await hap.workerPid()
  await hap.apply([set('B')])
  t.equal(await hap.workerPid(), worker2, 'the same records: no reload')

  // Replicas down: the reader leaves them; with none up it reaches the primary.
  c.stop()
  await eventually(t, 'a replica that stops answering leaves the reader', async () => (await inTurn(readerAddress, port, 3)).size === 1)
  t.equal(await nameAt(readerAddress, port), 'A', 'the other replica serves')
  a.stop()
  await eventually(t, 'with no replica up the reader reaches the primary', async () => (await nameAt(readerAddress, port)) === 'B')

  // Another server process adopts the running HAProxy: same master, no reload for the same records.
  const again = new Haproxy({ dir: join(dir, 'endpoints') })
  t.equal(again.masterPid(), master, 'a new server finds the running master by its pid file')
  await again.apply([set('B')])
  t.equal(await again.workerPid(), worker2, 'and leaves it serving')

  // No set left: stopped, nothing left behind.
  await again.apply([])
  t.equal(again.masterPid(), null, 'no set: the master is stopped')
  await t.rejects(dial(writerAddress, port), /ECONNREFUSED/, 'the writer endpoint is gone')
})
