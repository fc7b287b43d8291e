// allowed_cidrs enforced by the engines themselves (PostgreSQL pg_hba, MariaDB init_connect), updated live
// through `trove instance update --allowed-cidr`. Clients pick their source address through a small
// forwarder (neither psql nor mariadb can bind one): 127.0.0.1 directly, 127.0.0.2 through it.
import t, { type Test } from 'tap'
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import net from 'node:net'
import { join } from 'node:path'
import { runCli, startServerProcess, tempDir } from '../helpers/lab.js'
import { guestDir } from '../helpers/guest.js'

const PSQL = '/usr/lib/postgresql/15/bin/psql'
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** A TCP forwarder on 127.0.0.1:<ephemeral> that connects to target:port from `source`. */
async function forwarder(t: Test, target: string, port: number, source: string): Promise<number> {
  const open = new Set<net.Socket>()
  const srv = net.createServer((c) => {
    const u = net.connect({ host: target, port, localAddress: source })
    open.add(c).add(u)
    c.on('close', () => open.delete(c))
    u.on('close', () => open.delete(u))
    c.pipe(u)
    u.pipe(c)
    u.on('error', () => c.destroy())
    c.on('error', () => u.destroy())
  })
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r))
  t.teardown(
    () =>
      new Promise<void>((r) => {
        srv.close(() => r())
        for (const s of open) s.destroy()
      }),
  )
  return (srv.address() as net.AddressInfo).port
}

/** One query as u1 over TCP; resolves with exit code and output (async: the lab server runs in another process). */
function query(engine: string, host: string, port: number): Promise<{ code: number; out: string }> {
  const [cmd, args, env] =
    engine === 'mariadb'
      ? ['mariadb', ['--no-defaults', '--protocol=TCP', '-h', host, '-P', String(port), '-u', 'u1', '-N', '-B', '-e', 'SELECT USER()', 'd1'], { MYSQL_PWD: 'Pw-one-1' }]
      : [PSQL, ['-X', '-At', '-h', host, '-p', String(port), '-U', 'u1', '-d', 'd1', '-c', 'SELECT inet_client_addr()'], { PGPASSWORD: 'Pw-one-1', PGCONNECT_TIMEOUT: '5' }]
  return new Promise((done) => {
    const c = spawn(cmd as string, args as string[], { env: { ...process.env, ...(env as Record<string, string>) } })
    let out = ''
    c.stdout.on('data', (b) => (out += b))
    c.stderr.on('data', (b) => (out += b))
    c.on('close', (code) => done({ code: code ?? -1, out: out.trim() }))
  })
}

t.test('allowed_cidrs refuse and allow client addresses on PostgreSQL and MariaDB (Redis cannot check addresses: not tested)', async (t) => {
  const dir = tempDir(t, 'ta')
  const dataDir = join(dir, 'lab')
  // Client sources on loopback (127.0.0.1, 127.0.0.2): the `none` network, explicit whatever TROVE_ISOLATION says.
  // On a sandbox's own address the packet filter decides first (test/e2e/isolation-sandbox.ts).
  const server = await startServerProcess(t, dataDir, ['--isolation', 'none'])
  const env = { ...server.env, HOME: dir }
  const trove = (args: string[]) => runCli(args, env)

  const engines = [
    { engine: 'postgresql', port: 5432, refused: /no pg_hba\.conf entry for host "127\.0\.0\.1"/ },
    { engine: 'mariadb', port: 3306, refused: /init_connect command failed/ },
  ]
  for (const e of engines) await t.test(e.engine, (t) => check(t, e))

  async function check(t: Test, e: (typeof engines)[number]): Promise<void> {
    const name = `acc-${e.engine}`
    // Created already restricted: only 127.0.0.2 may connect.
    let r = await trove([
      'instance',
      'create',
      name,
      '--flavor',
      'm1.tiny',
      '--size',
      '1',
      '--datastore',
      e.engine,
      '--databases',
      'd1',
      '--users',
      'u1:Pw-one-1',
      '--allowed-cidr',
      '127.0.0.2/32',
      '--wait',
      '--timeout',
      '150',
      '-f',
      'json',
    ])
    t.equal(r.code, 0, `create --wait (${r.stderr.trim().split('\n').pop()})`)
    const shown = JSON.parse(r.stdout) as { id: string; ip: string; allowed_cidrs: string[] }
    t.same(shown.allowed_cidrs, ['127.0.0.2/32'], 'instance show: allowed_cidrs')
    const via2 = await forwarder(t, shown.ip, e.port, '127.0.0.2')

    let direct = await query(e.engine, shown.ip, e.port)
    t.not(direct.code, 0, 'from 127.0.0.1: refused')
    t.match(direct.out, e.refused, `the engine says why: ${direct.out.split('\n').pop()}`)
    let allowed = await query(e.engine, '127.0.0.1', via2)
    t.equal(allowed.code, 0, `from 127.0.0.2: allowed (${allowed.out})`)
    t.match(allowed.out, /127\.0\.0\.2/, 'the engine saw 127.0.0.2')

    // Live change: 127.0.0.1 only. No restart: the same engine process.
    const pid = readFileSync(join(guestDir(dataDir, shown.id), 'agent.pid'), 'utf8')
    r = await trove(['instance', 'update', name, '--allowed-cidr', '127.0.0.1/32'])
    t.equal(r.code, 0, `instance update --allowed-cidr (${r.stderr.trim()})`)
    for (let i = 0; i < 100 && (direct = await query(e.engine, shown.ip, e.port)).code !== 0; i++) await sleep(200)
    t.equal(direct.code, 0, `from 127.0.0.1: allowed after the update (${direct.out})`)
    allowed = await query(e.engine, '127.0.0.1', via2)
    t.not(allowed.code, 0, 'from 127.0.0.2: refused after the update')
    t.equal(readFileSync(join(guestDir(dataDir, shown.id), 'agent.pid'), 'utf8'), pid, 'the same agent (no reboot)')
    const show = JSON.parse((await trove(['instance', 'show', name, '-f', 'json'])).stdout)
    t.match(show, { status: 'ACTIVE', allowed_cidrs: ['127.0.0.1/32'] })
    t.same(JSON.parse(readFileSync(join(guestDir(dataDir, shown.id), 'agent.json'), 'utf8')).access, { isPublic: false, allowedCidrs: ['127.0.0.1/32'] }, 'agent.json holds it for the next start')

    // Open again: no CIDRs = anyone.
    r = await trove(['instance', 'update', name, '--allowed-cidr', '0.0.0.0/0'])
    t.equal(r.code, 0)
    for (let i = 0; i < 100 && (allowed = await query(e.engine, '127.0.0.1', via2)).code !== 0; i++) await sleep(200)
    t.equal(allowed.code, 0, '0.0.0.0/0: 127.0.0.2 allowed again')
    t.equal((await query(e.engine, shown.ip, e.port)).code, 0, '0.0.0.0/0: 127.0.0.1 allowed')
    r = await trove(['instance', 'delete', name, '--wait', '--timeout', '60'])
    t.equal(r.code, 0, 'deleted')
  }
})
