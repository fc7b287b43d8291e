// isolation: 'sandbox' end to end (docs/isolation.md, issue 14): a lab started in-process with sandboxes,
// Redis instances created through the SDK, each with its own uid, runc sandbox, loop-mounted volume and
// network namespace on the lab bridge behind the packet filter; delete leaves nothing of them behind.
import t, { type Test } from 'tap'
import { execFileSync, spawnSync } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs'
import { type AddressInfo, type Socket, connect, createServer } from 'node:net'
import { once } from 'node:events'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { blockedCount, tableName } from '../../src/server/compute/firewall.js'
import { createSandbox, execInSandbox, listSandboxes, sandboxCgroupDirs } from '../../src/server/compute/sandbox.js'
import { Reconciler } from '../../src/server/reconcile.js'
import { removeSandboxLab } from '../../src/server/compute/sandbox-lab.js'
import type { SandboxedCompute } from '../../src/server/compute/sandboxed.js'
import { UID_CLAIM_DIR } from '../../src/server/compute/uids.js'
import type { TroveClient } from '../../src/sdk/index.js'
import { labClient, startLab } from '../helpers/lab.js'
import { authPing, exeOf, netnsOf, nsPidOf, probeFrom, redis, sandboxPids, uidsOf, waitStatus } from '../helpers/sandbox-proc.js'

/** What this host lacks for real sandboxes, or undefined. */
function lacking(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (runc, loop devices, mounts, netns, nft)'
  const tools: Array<[string, string[], string]> = [
    ['runc', ['--version'], 'runc'],
    ['catatonit', ['--version'], 'catatonit'],
    ['nft', ['--version'], 'nftables'],
    ['losetup', ['--version'], 'mount (util-linux)'],
    ['mkfs.ext4', ['-V'], 'e2fsprogs'],
    ['ip', ['-V'], 'iproute2'],
    ['redis-server', ['--version'], 'redis-server'],
  ]
  for (const [tool, args, pkg] of tools) {
    try {
      execFileSync(tool, args, { stdio: 'pipe' })
    } catch {
      return `${tool} is not installed (Debian package ${pkg})`
    }
  }
  if (!existsSync('/usr/lib/cni/bridge')) return 'the CNI bridge plugin is missing (Debian package containernetworking-plugins)'
  return undefined
}

const why = lacking()
if (why) t.plan(0, why)

t.test('a sandboxed Redis: its own uid, namespaces, volume and address; delete leaves nothing', async (t) => {
  const lab = await startLab(t, { isolation: 'sandbox', reconcileMs: 0 })
  const c = lab.server.lab.compute as SandboxedCompute
  // Registered after the lab's own teardown, so it runs first (tap runs them last in, first out).
  t.teardown(() => removeSandboxLab(c))
  t.equal(c.isolation, 'sandbox')
  const net = c.network
  const client = labClient(lab.cloudsFile)

  const t0 = Date.now()
  // The first one lets only TEST-NET-1 (and the host) in: the second must not reach it.
  const a = await client.instances.create({ name: 'sb-a', flavorRef: '1', volume: { size: 1 }, datastore: { type: 'redis' }, access: { allowed_cidrs: ['192.0.2.0/24'] } })
  // The second is public without CIDRs: every source may connect (upstream's 0.0.0.0/0 rule).
  const b = await client.instances.create({ name: 'sb-b', flavorRef: '1', volume: { size: 1 }, datastore: { type: 'redis' }, access: { is_public: true } })
  const ia = await waitStatus(client, a.id, 'BUILD')
  const ib = await waitStatus(client, b.id, 'BUILD')
  t.comment(`two sandboxed Redis instances ACTIVE ${Date.now() - t0} ms after the first create`)
  if (ia.status !== 'ACTIVE' || ib.status !== 'ACTIVE') {
    t.fail(`not ACTIVE: ${ia.status} ${ib.status}; sandbox.log: ${readFileSync(join(c.instanceDir(a.id), 'sandbox.log'), 'utf8').slice(-2000)}`)
    return
  }
  t.equal(ia['lab:isolation'], 'sandbox', 'instance show says sandbox')

  // Its address is on the lab's subnet; Redis answers AUTH + PING there from the host.
  const ip = ia.ip![0]!
  const prefix = net.subnet.split('.').slice(0, 3).join('.')
  t.ok(ip.startsWith(`${prefix}.`) && ip !== net.gateway, `address ${ip} in the lab subnet ${net.subnet}`)
  const root = await client.root.enable(a.id)
  t.match(await authPing(ip, 'root', root.password), /^\+OK\r\n\+PONG\r\n/, 'AUTH and PING from the host')

  // The agent and the engine run as the instance's uid, in PID and network namespaces not the host's.
  const rec = JSON.parse(readFileSync(join(c.instanceDir(a.id), 'sandbox.json'), 'utf8')) as { uid: number; hostIf: string }
  t.ok(rec.uid >= 420000 && rec.uid <= 429999, `uid ${rec.uid} from the instance range`)
  t.ok(existsSync(join(UID_CLAIM_DIR, String(rec.uid))), 'its uid is claimed')
  const pids = sandboxPids(c, a.id)
  const engine = pids.find((p) => /redis-(server|check-rdb)$/.test(exeOf(p)))
  const agent = pids.find((p) => exeOf(p) === process.execPath && readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('\0agent\0'))
  t.ok(engine && agent, `the engine (${engine}) and the agent (${agent}) are in the sandbox's cgroup`)
  for (const [what, pid] of [
    ['engine', engine],
    ['agent', agent],
  ] as const) {
    if (!pid) continue
    t.same(uidsOf(pid), [rec.uid, rec.uid, rec.uid, rec.uid], `the ${what} runs as uid ${rec.uid} (real, effective, saved, fs)`)
    for (const ns of ['pid', 'net', 'mnt']) t.not(readlinkSync(`/proc/${pid}/ns/${ns}`), readlinkSync(`/proc/self/ns/${ns}`), `the ${what} is in a ${ns} namespace of its own`)
  }
  t.equal(statSync(`/proc/${engine}/ns/net`).ino, statSync(`/run/netns/${netnsOf(c, a.id)}`).ino, 'the engine is in the network namespace attached to the bridge')

  // The engine's data files are on the loop-mounted volume.
  t.match(await redis(ip, root.password, ['SET k v', 'SAVE']), /\+OK\r\n\+OK\r\n\+OK/, 'SET and SAVE')
  const mnt = join(c.instanceDir(a.id), 'mnt')
  const dump = join(mnt, 'data', 'dump.rdb')
  t.ok(existsSync(dump), 'dump.rdb is in the volume')
  const source = execFileSync('findmnt', ['-n', '-o', 'SOURCE', '--target', dump], { encoding: 'utf8' }).trim()
  t.match(source, /^\/dev\/loop\d+$/, `the data's filesystem is a loop device (${source})`)
  const backing = execFileSync('losetup', ['-n', '-O', 'BACK-FILE', source], { encoding: 'utf8' }).trim()
  t.equal(backing, join(c.instanceDir(a.id), 'volume.img'), "backed by the instance's image")
  t.equal(statSync(dump).uid, rec.uid, "the data file is the instance uid's")

  // Between instances: b cannot open a connection to a's 6379 (a allows 192.0.2.0/24 only); a reaches b's
  // (b is public), and b reaches the broker on the gateway: the probe itself works. (No access rule at all lets
  // in no other instance: the attack suite's victims have none.)
  const ipB = ib.ip![0]!
  const before = await blockedCount(net)
  t.equal(await probeFrom(c, b.id, ipB, 6379), 0, 'b reaches its own port (probe works)')
  t.equal(await probeFrom(c, a.id, ipB, 6379), 0, "a reaches b's 6379 (b is public)")
  t.not(await probeFrom(c, b.id, ip, 6379), 0, "b cannot open a connection to a's 6379")
  t.ok((await blockedCount(net)) > before, 'the packet filter counted the refused SYNs')
  // To the host: the broker's port on the gateway only; another port listening there is refused.
  const brokerPort = (JSON.parse(readFileSync(join(lab.dataDir, 'broker.json'), 'utf8')) as { gateway: { port: number } }).gateway.port
  t.equal(await probeFrom(c, b.id, net.gateway, brokerPort), 0, 'b reaches the broker on the gateway')
  const other = createServer().listen(0, net.gateway)
  await once(other, 'listening')
  t.teardown(() => other.close())
  const otherPort = (other.address() as AddressInfo).port
  t.equal(await probeFrom(c, a.id, net.gateway, otherPort), 1, 'another port on the gateway is refused (connection reset)')
  t.ok(
    await new Promise((r) =>
      connect({ host: net.gateway, port: otherPort })
        .on('connect', function (this: Socket) {
          this.destroy()
          r(true)
        })
        .on('error', () => r(false)),
    ),
    'which the host itself reaches',
  )

  // Refused, not half-run: what the sandboxed agent cannot do yet.
  await t.rejects(
    client.instances.resizeVolume(a.id, 1),
    { status: 400, message: /must be larger than the current volume size/ },
    'volume resize not refused for the sandbox: a shrink is, as upstream (test/e2e/sandbox-resize.ts grows one)',
  )
  // Replicas of sandboxed instances run (test/e2e/sandbox-replication.ts).
  await t.rejects(
    client.instances.create({ name: 'sb-p', flavorRef: '1', volume: { size: 1 }, restorePoint: { instanceRef: a.id, latest: true } }),
    { status: 400, message: /\(redis\) has no log archive/ },
    'a restore to a point in time of a Redis source refused: no log archive (sandboxed ones work: sandbox-pitr.ts)',
  )

  // restart (the engine, by the agent inside) and an admin's reboot (the agent too: the sandbox again).
  const rootB = await client.root.enable(b.id)
  await client.instances.restart(b.id)
  t.equal((await client.instances.get(b.id)).status, 'REBOOT', 'restart: REBOOT at once')
  t.equal((await waitStatus(client, b.id, 'REBOOT')).status, 'ACTIVE', 'restart: ACTIVE again')
  t.match(await authPing(ipB, 'root', rootB.password), /\+PONG/, 'restart: redis answers')
  const agentB = c.agentPid(b.id)
  const admin = labClient(lab.cloudsFile, {}, 'trove-lab-admin')
  await admin.request('POST', `/mgmt/instances/${b.id}/action`, { body: { reboot: {} } })
  t.equal((await client.instances.get(b.id)).status, 'REBOOT', 'reboot: REBOOT at once')
  t.equal((await waitStatus(client, b.id, 'REBOOT')).status, 'ACTIVE', 'reboot: ACTIVE again')
  const agentB2 = c.agentPid(b.id)
  t.ok(agentB2 && agentB2 !== agentB, `reboot: a new agent (a new sandbox): ${agentB} -> ${agentB2}`)
  t.match(await authPing(ipB, 'root', rootB.password), /\+PONG/, 'reboot: redis answers on the same address')

  // Delete: nothing of the instance is left; the other's filter entry stays.
  await deleteAndCheck(t, c, client, a.id)
  const ports = execFileSync('nft', ['list', 'set', 'bridge', tableName(c.labId), 'ports'], { encoding: 'utf8' })
  t.ok(ports.includes((JSON.parse(readFileSync(join(c.instanceDir(b.id), 'sandbox.json'), 'utf8')) as { hostIf: string }).hostIf), "b's element stays")
})

/** Deletes the instance through the API, then checks that no part of its sandbox is left on the host. */
async function deleteAndCheck(t: Test, c: SandboxedCompute, client: TroveClient, id: string): Promise<void> {
  const dir = c.instanceDir(id)
  const rec = JSON.parse(readFileSync(join(dir, 'sandbox.json'), 'utf8')) as { uid: number; hostIf: string }
  const netns = netnsOf(c, id)
  const image = join(dir, 'volume.img')
  const mnt = join(dir, 'mnt')
  await client.instances.delete(id)
  const deadline = Date.now() + 120_000
  while (Date.now() < deadline) {
    try {
      await client.instances.get(id)
    } catch {
      break
    }
    await sleep(200)
  }
  t.notOk(existsSync(join(UID_CLAIM_DIR, String(rec.uid))), 'no uid claim')
  t.equal(execFileSync('losetup', ['-j', image], { encoding: 'utf8' }).trim(), '', 'no loop device')
  t.notOk(readFileSync('/proc/self/mounts', 'utf8').includes(mnt), 'no mount')
  t.notOk(existsSync(`/run/netns/${netns}`), 'no network namespace')
  const ports = execFileSync('nft', ['list', 'set', 'bridge', tableName(c.labId), 'ports'], { encoding: 'utf8' })
  t.notOk(ports.includes(rec.hostIf), 'no nft element for its veth')
  t.same(
    sandboxCgroupDirs(c.runtime, id).filter((d) => existsSync(d)),
    [],
    'no cgroup',
  )
  t.notOk((await listSandboxes(c.runtime)).includes(id), 'no runc state')
  t.notOk(existsSync(dir), 'no instance directory')
}

/** The engine's process in the sandbox: its uid and namespaces checked, its data files on the volume. */
function checkEngine(t: Test, c: SandboxedCompute, id: string, exe: RegExp): void {
  const rec = JSON.parse(readFileSync(join(c.instanceDir(id), 'sandbox.json'), 'utf8')) as { uid: number }
  const engine = sandboxPids(c, id).find((p) => exe.test(exeOf(p)))
  if (!engine) {
    t.fail(`no ${exe} process in the sandbox's cgroup`)
    return
  }
  t.same(uidsOf(engine), [rec.uid, rec.uid, rec.uid, rec.uid], `the engine runs as the instance's uid ${rec.uid}`)
  for (const ns of ['pid', 'net', 'mnt']) t.not(readlinkSync(`/proc/${engine}/ns/${ns}`), readlinkSync(`/proc/self/ns/${ns}`), `in a ${ns} namespace of its own`)
  const data = join(c.instanceDir(id), 'mnt', 'data')
  t.match(execFileSync('findmnt', ['-n', '-o', 'SOURCE', '--target', data], { encoding: 'utf8' }).trim(), /^\/dev\/loop\d+$/, 'its data dir is on the loop-mounted volume')
  t.equal(statSync(data).uid, rec.uid, "the data dir is the instance uid's")
}

t.test('sandboxed MariaDB and PostgreSQL: initialised inside, as the instance uid, answering on the lab network', async (t) => {
  const lab = await startLab(t, { isolation: 'sandbox', reconcileMs: 0 })
  const c = lab.server.lab.compute as SandboxedCompute
  t.teardown(() => removeSandboxLab(c))
  const client = labClient(lab.cloudsFile)
  const t0 = Date.now()
  const [m, p] = await Promise.all([
    client.instances.create({ name: 'sb-maria', flavorRef: '1', volume: { size: 1 }, datastore: { type: 'mariadb' } }),
    client.instances.create({ name: 'sb-pg', flavorRef: '1', volume: { size: 1 }, datastore: { type: 'postgresql' } }),
  ])
  const [im, ip] = await Promise.all([waitStatus(client, m.id, 'BUILD'), waitStatus(client, p.id, 'BUILD')])
  t.comment(`MariaDB and PostgreSQL ACTIVE ${Date.now() - t0} ms after their creates (at once, initialised in the sandbox)`)
  for (const [i, id] of [
    [im, m.id],
    [ip, p.id],
  ] as const)
    if (i.status !== 'ACTIVE') t.fail(`${id} is ${i.status}; sandbox.log: ${readFileSync(join(c.instanceDir(id), 'sandbox.log'), 'utf8').slice(-3000)}`)
  if (im.status !== 'ACTIVE' || ip.status !== 'ACTIVE') return
  t.equal(im['lab:isolation'], 'sandbox')
  t.equal(ip['lab:isolation'], 'sandbox')

  checkEngine(t, c, m.id, /\/(mariadbd|mysqld)$/)
  checkEngine(t, c, p.id, /\/postgres$/)
  // A client on the host logs in over the lab network (root enabled through the API; passwords in the environment).
  const mroot = await client.root.enable(m.id)
  const mout = execFileSync('mariadb', ['-h', im.ip![0]!, '-u', 'root', '--batch', '--skip-column-names', '-e', 'SELECT CURRENT_USER()'], {
    encoding: 'utf8',
    env: { ...process.env, MYSQL_PWD: mroot.password },
  })
  t.equal(mout.trim(), 'root@%', 'mariadb answers root over the lab network')
  const proot = await client.root.enable(p.id)
  const pout = execFileSync('psql', ['-h', ip.ip![0]!, '-U', proot.name, '-d', 'postgres', '-tAc', 'SELECT current_user'], { encoding: 'utf8', env: { ...process.env, PGPASSWORD: proot.password } })
  t.equal(pout.trim(), proot.name, 'postgresql answers root over the lab network')
  // A write past the volume fails in the engine: the volume filled from inside (as the instance user), then a
  // table written by PostgreSQL gets its own "No space left on device"; freed, it works again.
  const fill = await execInSandbox(c.runtime, p.id, ['dd', 'if=/dev/zero', 'of=/var/lib/trove-instance/tmp/fill', 'bs=1M'], 300_000)
  t.match(fill.stderr, /No space left on device/, 'the volume fills up (dd: no space left)')
  const psql = (sql: string) =>
    spawnSync('psql', ['-h', ip.ip![0]!, '-U', proot.name, '-d', 'postgres', '-v', 'ON_ERROR_STOP=1', '-tAc', sql], { encoding: 'utf8', env: { ...process.env, PGPASSWORD: proot.password } })
  const full = psql("CREATE TABLE big AS SELECT repeat('x', 1000) AS v FROM generate_series(1, 200000)")
  t.not(full.status, 0, 'the write past the volume fails')
  t.match(full.stderr, /No space left on device/, `with the engine's error: ${full.stderr.trim().split('\n')[0]}`)
  await execInSandbox(c.runtime, p.id, ['rm', '-f', '/var/lib/trove-instance/tmp/fill'])
  // A WAL write that met the full disk makes PostgreSQL restart its backends (crash recovery): answered once that ends.
  const deadline = Date.now() + 120_000
  let answer = psql('SELECT 1').stdout.trim()
  while (answer !== '1' && Date.now() < deadline) {
    await sleep(250)
    answer = psql('SELECT 1').stdout.trim()
  }
  t.equal(answer, '1', 'space freed: the engine answers again')

  // PostgreSQL outlives its agent too (kill -9); spawnAgent (runc exec) starts one that re-adopts the postmaster.
  const reportedPg = lab.server.lab.instances.guestStatus(p.id)?.engine_pid
  const postmaster = sandboxPids(c, p.id).find((pid) => nsPidOf(pid) === reportedPg)
  const pgAgent = c.agentPid(p.id)
  t.ok(postmaster && pgAgent, `the postmaster (host pid ${postmaster}) and the agent (${pgAgent})`)
  if (!postmaster || !pgAgent) return
  process.kill(pgAgent, 'SIGKILL')
  while (c.agentAlive(p.id)) await sleep(20)
  t.ok(existsSync(`/proc/${postmaster}`), 'the postmaster outlives its agent')
  t.equal(psql('SELECT 2').stdout.trim(), '2', 'and answers with no agent')
  const pgAgent2 = await c.spawnAgent(p.id)
  t.equal(readlinkSync(`/proc/${pgAgent2}/ns/pid`), readlinkSync(`/proc/${postmaster}/ns/pid`), 'a new agent in the same sandbox')
  const adoptedPg = Date.now() + 60_000
  while (lab.server.lab.instances.guestStatus(p.id)?.agent_pid !== nsPidOf(pgAgent2) && Date.now() < adoptedPg) await sleep(100)
  t.equal(lab.server.lab.instances.guestStatus(p.id)?.engine_pid, reportedPg, 'which re-adopts the same postmaster')
  t.ok(existsSync(`/proc/${postmaster}`), 'still running')

  // The agent's own superuser (MariaDB's unix_socket account of the instance user) is not the tenant's to see or take.
  const names: string[] = []
  for await (const u of client.users.list(m.id)) names.push(u.name)
  t.notOk(names.includes('trove'), "the agent's account is not in user list")
  await t.rejects(client.users.create(m.id, [{ name: 'trove', password: 'Secret-12345', databases: [] }]), { status: 400, message: /reserved/ }, "the agent's account name is reserved")

  // The first creates started the lab's templates (made in sandboxes of their own, sandbox-template.ts); the next
  // MariaDB and PostgreSQL start from a copy the server made into their fresh volumes, with credentials of their own.
  await c.templates.settled()
  t.notOk(
    (await listSandboxes(c.runtime)).some((s) => s.startsWith('tpl-')),
    'no template maker left running',
  )
  const t1 = Date.now()
  const [m2, m3, p2] = await Promise.all([
    client.instances.create({ name: 'sb-maria2', flavorRef: '1', volume: { size: 1 }, datastore: { type: 'mariadb' } }),
    client.instances.create({ name: 'sb-maria3', flavorRef: '1', volume: { size: 1 }, datastore: { type: 'mariadb' } }),
    client.instances.create({ name: 'sb-pg2', flavorRef: '1', volume: { size: 1 }, datastore: { type: 'postgresql' } }),
  ])
  const [im2, im3, ip2] = await Promise.all([waitStatus(client, m2.id, 'BUILD'), waitStatus(client, m3.id, 'BUILD'), waitStatus(client, p2.id, 'BUILD')])
  t.comment(`two MariaDB and a PostgreSQL from the templates ACTIVE ${Date.now() - t1} ms after their creates (at once)`)
  for (const [i, id] of [
    [im2, m2.id],
    [im3, m3.id],
    [ip2, p2.id],
  ] as const) {
    const log = readFileSync(join(c.instanceDir(id), 'sandbox.log'), 'utf8')
    t.equal(i.status, 'ACTIVE', `${id} ACTIVE`)
    t.match(log, /prepare: data dir copied by the server from template/, `${i.datastore?.type}: its data dir is the lab template's copy`)
    t.notMatch(log, /data dir initialised|initialising from scratch/, 'not initialised inside')
  }
  if (im2.status !== 'ACTIVE' || im3.status !== 'ACTIVE' || ip2.status !== 'ACTIVE') return
  checkEngine(t, c, m2.id, /\/(mariadbd|mysqld)$/)
  checkEngine(t, c, p2.id, /\/postgres$/)
  const mroot2 = await client.root.enable(m2.id)
  const maria = (host: string, password: string, sql: string) =>
    spawnSync('mariadb', ['-h', host, '-u', 'root', '--batch', '--skip-column-names', '-e', sql], { encoding: 'utf8', env: { ...process.env, MYSQL_PWD: password } })
  t.equal(maria(im2.ip![0]!, mroot2.password, 'SELECT CURRENT_USER()').stdout.trim(), 'root@%', 'the copy answers its own root')
  t.not(maria(im2.ip![0]!, mroot.password, 'SELECT 1').status, 0, "the first instance's root password does not open the copy")
  // Two copies of one template share no credential: no account has the same password hash in both.
  const mroot3 = await client.root.enable(m3.id)
  const hashes = (host: string, password: string) =>
    maria(
      host,
      password,
      "SELECT CONCAT(User, '@', Host, ' ', JSON_VALUE(Priv, '$.authentication_string')) FROM mysql.global_priv WHERE IFNULL(JSON_VALUE(Priv, '$.authentication_string'), '') NOT IN ('', 'invalid')",
    )
      .stdout.trim()
      .split('\n')
      .filter(Boolean)
  const h2 = hashes(im2.ip![0]!, mroot2.password)
  const h3 = hashes(im3.ip![0]!, mroot3.password)
  t.ok(h2.length >= 1 && h3.length >= 1, `accounts with passwords in each copy (${h2.length}, ${h3.length})`)
  t.same(
    h2.filter((x) => h3.includes(x)),
    [],
    'no password hash shared between two copies of the template',
  )
  const proot2 = await client.root.enable(p2.id)
  const pg = (host: string, password: string) =>
    spawnSync('psql', ['-h', host, '-U', proot2.name, '-d', 'postgres', '-tAc', 'SELECT current_user'], { encoding: 'utf8', env: { ...process.env, PGPASSWORD: password } })
  t.equal(pg(ip2.ip![0]!, proot2.password).stdout.trim(), proot2.name, 'the PostgreSQL copy answers its own root')
  t.not(pg(ip2.ip![0]!, proot.password).status, 0, "the first instance's root password does not open the copy")

  await deleteAndCheck(t, c, client, m.id)
  await deleteAndCheck(t, c, client, p.id)
  await deleteAndCheck(t, c, client, m2.id)
  await deleteAndCheck(t, c, client, m3.id)
  await deleteAndCheck(t, c, client, p2.id)
})

t.test('what a crash leaves of a sandbox is removed by the reconciler', async (t) => {
  const lab = await startLab(t, { isolation: 'sandbox', reconcileMs: 0 })
  const c = lab.server.lab.compute as SandboxedCompute
  t.teardown(() => removeSandboxLab(c))
  const uidOfDir = (id: string) => (JSON.parse(readFileSync(join(c.instanceDir(id), 'sandbox.json'), 'utf8')) as { uid: number }).uid

  // A server dead between reserving (directory, record, uid, namespace) and writing the row.
  const halfMade = randomUUID()
  await c.reserve(halfMade, 'redis', new Set())
  const halfUid = uidOfDir(halfMade)
  const halfNs = netnsOf(c, halfMade)
  // Parts whose directory is gone (removed by hand, or a crash the record could not tell about): a namespace,
  // a uid claim and a runc sandbox of this lab that no instance directory owns.
  const dirless = randomUUID()
  await c.reserve(dirless, 'redis', new Set())
  const dirlessUid = uidOfDir(dirless)
  const dirlessNs = netnsOf(c, dirless)
  rmSync(c.instanceDir(dirless), { recursive: true })
  const stray = randomUUID()
  const strayDir = mkdtempSync('/tmp/tv-stray.')
  t.teardown(() => rmSync(strayDir, { recursive: true, force: true }))
  mkdirSync(join(strayDir, 'volume'))
  await createSandbox(c.runtime, {
    id: stray,
    bundleDir: join(strayDir, 'bundle'),
    uid: 429_999,
    gid: 429_999,
    volumeDir: join(strayDir, 'volume'),
    limits: { pids: 16 },
    args: ['sleep', '600'],
    env: ['PATH=/usr/bin:/bin'],
  })
  t.ok((await listSandboxes(c.runtime)).includes(stray), 'the stray sandbox runs')

  const report = await new Reconciler(lab.server.lab, { graceMs: 0 }).run()
  t.ok(report.orphanDirs.includes(halfMade), 'the half-made instance directory is removed')
  t.notOk(existsSync(c.instanceDir(halfMade)), '...with its directory')
  t.notOk(existsSync(join(UID_CLAIM_DIR, String(halfUid))), '...its uid claim')
  t.notOk(existsSync(`/run/netns/${halfNs}`), '...and its namespace')
  t.ok(report.sandboxLeftovers.includes(`sandbox ${stray}`), `the stray sandbox is swept (${report.sandboxLeftovers.join(', ')})`)
  t.notOk((await listSandboxes(c.runtime)).includes(stray), '...and gone from runc')
  t.ok(report.sandboxLeftovers.includes(`netns ${dirlessNs}`), 'the namespace no directory owns is swept')
  t.notOk(existsSync(`/run/netns/${dirlessNs}`), '...and gone')
  // The uid claims are the host's, not the lab's: a claim whose directory is gone is released by whichever
  // lab sweeps first (claims.ts), so another test's lab running meanwhile may have done it.
  t.notOk(existsSync(join(UID_CLAIM_DIR, String(dirlessUid))), 'the uid claim no directory owns is released')
  const again = await new Reconciler(lab.server.lab, { graceMs: 0 }).run()
  t.same([again.orphanDirs, again.sandboxLeftovers], [[], []], 'a second pass finds nothing')
})
