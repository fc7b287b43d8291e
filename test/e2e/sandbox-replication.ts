// Replicas of sandboxed instances (docs/isolation.md, issue 14), per engine, end to end on real runc, CNI
// and nft: each replica in a sandbox of its own, seeded and streaming over the lab bridge from the source's
// address and standard port with the replication account's password; the packet filter lets the members of
// a replication set reach each other's engine port and no one else (the sources allow the host only); the
// rules follow promote, eject, detach and delete.
import t, { type Test } from 'tap'
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { REPLICATION_SET, tableName } from '../../src/server/compute/firewall.js'
import { execInSandbox } from '../../src/server/compute/sandbox.js'
import { removeSandboxLab } from '../../src/server/compute/sandbox-lab.js'
import type { SandboxedCompute } from '../../src/server/compute/sandboxed.js'
import type { Instance, TroveClient } from '../../src/sdk/index.js'
import { labClient, startLab } from '../helpers/lab.js'
import { sharedSandboxTemplates } from '../helpers/sandbox-templates.js'
import { engineClient, writeRows } from '../helpers/clients.js'
import { sandboxLacking } from '../helpers/sandbox-host.js'

const why = sandboxLacking(['redis', 'mariadb', 'postgresql'])
if (why) t.plan(0, why)

/** SANDBOX_REPL_ENGINES=redis narrows the run (development). */
const ENGINES = (process.env.SANDBOX_REPL_ENGINES ?? 'redis,mariadb,postgresql').split(',')
const PORTS: Record<string, number> = { redis: 6379, mariadb: 3306, postgresql: 5432 }

/** The rows (Redis: keys k<N>) an instance has, as a sorted list of numbers ([] when it does not answer). */
function rows(engine: string, ip: string, user: string, pw: string): number[] {
  try {
    const out = engineClient(engine, ip, user, pw, engine === 'redis' ? 'KEYS k*\n' : 'SELECT v FROM t ORDER BY v;')
    return out
      .split('\n')
      .filter(Boolean)
      .map((l) => Number(l.replace(/^k/, '')))
      .filter(Number.isFinite)
      .sort((a, b) => a - b)
  } catch {
    return []
  }
}
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i)

/** Polls `probe` until it holds; the deadline only ends a hang (a busy machine is slower, not failing). */
async function until(probe: () => boolean | Promise<boolean>, ms = 150_000): Promise<boolean> {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    if (await probe()) return true
    await sleep(250)
  }
  return probe()
}

/**
 * Polls the instance until `done` holds, it is in ERROR (no wait of this file outlives a failed step: the CI run
 * once only said that the file overran its 10 minutes), or four minutes passed.
 */
async function waitInstance(client: TroveClient, id: string, done: (i: Instance) => boolean): Promise<Instance> {
  const deadline = Date.now() + 240_000
  for (;;) {
    const i = await client.instances.get(id)
    if (done(i) || i.status === 'ERROR' || Date.now() > deadline) return i
    await sleep(300)
  }
}

/** Tries a TCP connect to ip:port from inside the sandbox (bash's /dev/tcp, given up after 4 s): the exit code. */
async function probeFrom(c: SandboxedCompute, id: string, ip: string, port: number): Promise<number> {
  return (await execInSandbox(c.runtime, id, ['timeout', '4', 'bash', '-c', `exec 3<>/dev/tcp/${ip}/${port}`])).code
}

/** The lab's replication set: "peer instance port" per element. */
function replicationElements(c: SandboxedCompute): string[] {
  const out = JSON.parse(execFileSync('nft', ['-j', 'list', 'set', 'bridge', tableName(c.labId), REPLICATION_SET], { encoding: 'utf8' })) as {
    nftables: Array<{ set?: { elem?: Array<{ concat: Array<string | number> }> } }>
  }
  return (out.nftables.find((e) => e.set)?.set?.elem ?? []).map((e) => e.concat.join(' '))
}

const logTail = (f: string) => {
  try {
    return readFileSync(f, 'utf8').slice(-3000)
  } catch {
    return ''
  }
}

/** Waits for `done`; when it does not come, fails with the instance's status, fault and logs. */
async function settled(t: Test, c: SandboxedCompute, client: TroveClient, id: string, what: string, done: (i: Instance) => boolean): Promise<Instance | undefined> {
  const i = await waitInstance(client, id, done)
  if (done(i)) return i
  report(t, c, i, what)
  return undefined
}

/** The instance's agent, sandbox and engine logs (their tails), for a failure's message. */
function logsOf(c: SandboxedCompute, id: string): string {
  const mnt = join(c.instanceDir(id), 'mnt')
  return `agent.log: ${logTail(join(mnt, 'agent.log'))} sandbox.log: ${logTail(join(c.instanceDir(id), 'sandbox.log'))} postgresql.log: ${logTail(join(mnt, 'log', 'postgresql.log'))}`
}

function report(t: Test, c: SandboxedCompute, i: Instance, what: string): void {
  t.fail(`${what}: ${i.status} ${JSON.stringify(i.fault ?? '')}; ${logsOf(c, i.id)}`)
}

/** Polls `probe` until it holds; when it does not, fails with the logs of `ids` (the members it is about). */
async function converges(t: Test, c: SandboxedCompute, ids: string[], probe: () => boolean, what: string): Promise<boolean> {
  if (await until(probe)) return t.pass(what)
  return t.fail(`${what}; ${ids.map((id) => `${id}: ${logsOf(c, id)}`).join(' ')}`)
}

const active = (t: Test, c: SandboxedCompute, client: TroveClient, id: string, what: string) => settled(t, c, client, id, what, (i) => i.status === 'ACTIVE')

t.test('replicas of sandboxed instances: over the bridge, the filter follows the replication set', async (t) => {
  // Heartbeats every second, stale after 8 s: the eject below waits for that, not for the default 30 s.
  const lab = await startLab(t, { isolation: 'sandbox', reconcileMs: 0, heartbeatMs: 1000, heartbeatExpiryMs: 8000, ...sharedSandboxTemplates })
  const c = lab.server.lab.compute as SandboxedCompute
  t.teardown(() => removeSandboxLab(c))
  const client = labClient(lab.cloudsFile)
  const gw = c.network.gateway
  // A sandbox outside every set, allowing the lab subnet: it probes the members' ports.
  const outsider = await client.instances.create({ name: 'sr-outsider', flavorRef: '1', volume: { size: 1 }, datastore: { type: 'redis' } })
  const outInst = await active(t, c, client, outsider.id, 'the outsider')
  if (!outInst) return
  const out = outInst

  for (const engine of ENGINES) await t.test(engine, (t) => check(t, engine))

  async function check(t: Test, engine: string): Promise<void> {
    const port = PORTS[engine]!
    const sql = engine !== 'redis'
    // Each stage's time in the output: when the file overruns its timeout, the log says where it stood.
    const began = Date.now()
    const stage = (what: string) => t.comment(`${engine}: ${what} at ${((Date.now() - began) / 1000).toFixed(1)} s`)
    const users = sql ? { databases: [{ name: 'd1' }], users: [{ name: 'u1', password: 'Pw-one-1', databases: [{ name: 'd1' }] }] } : {}
    // The source lets in the host only (allowed_cidrs: the gateway): no instance reaches it but its set.
    const made = await client.instances.create({ name: `sr-${engine}`, flavorRef: '1', volume: { size: 1 }, datastore: { type: engine }, access: { allowed_cidrs: [`${gw}/32`] }, ...users })
    const src = await active(t, c, client, made.id, `${engine} source`)
    if (!src) return
    const [user, pw] = sql ? ['u1', 'Pw-one-1'] : ['root', (await client.root.enable(src.id)).password]
    const ipS = src.ip![0]!
    writeRows(engine, ipS, user, pw, 1, 50)

    // Two replicas (replica_count), each in a sandbox of its own.
    const t0 = Date.now()
    const last = await client.instances.create({ name: `sr-${engine}-rep`, replica_of: src.id, replica_count: 2 })
    const ids = (((await client.instances.get(src.id)) as { replicas?: Array<{ id: string }> }).replicas ?? []).map((r) => r.id)
    t.ok(ids.includes(last.id), 'the source lists the replica the create answered with')
    t.equal(ids.length, 2, 'two replicas')
    const r1 = await active(t, c, client, ids[0]!, `${engine} replica 1`)
    const r2 = await active(t, c, client, ids[1]!, `${engine} replica 2`)
    if (!r1 || !r2) return
    t.comment(`${engine}: two sandboxed replicas ACTIVE in ${((Date.now() - t0) / 1000).toFixed(1)} s`)
    t.equal(r1['lab:isolation'], 'sandbox', 'the replica has a sandbox of its own')
    const [ip1, ip2] = [r1.ip![0]!, r2.ip![0]!]
    t.not(ip1, ipS, 'its own address')
    t.ok(await until(() => rows(engine, ip1, user, pw).join() === range(1, 50).join()), "replica 1 has the source's data")
    t.ok(await until(() => rows(engine, ip2, user, pw).join() === range(1, 50).join()), "replica 2 has the source's data")
    writeRows(engine, ipS, user, pw, 51, 60)
    t.ok(await until(() => rows(engine, ip1, user, pw).join() === range(1, 60).join()), 'later writes stream to replica 1')
    t.ok(await until(() => rows(engine, ip2, user, pw).join() === range(1, 60).join()), 'and to replica 2')
    // The set's endpoints (issue 16, endpoints/sets.ts): HAProxy on the host reaches the sandboxed members.
    const shown = await waitInstance(client, src.id, (i) => typeof i.writer_endpoint === 'string')
    const [writerHost, readerHost] = [shown.writer_endpoint, shown.reader_endpoint].map((e) => String(e).split(':')[0]!)
    t.equal(shown.writer_endpoint, `${writerHost}:${port}`, `the source shows its writer endpoint (${shown.writer_endpoint})`)
    t.ok(await until(() => rows(engine, writerHost, user, pw).join() === range(1, 60).join()), 'the writer endpoint reaches the source with its credentials')
    if (sql) t.ok(await until(() => rows(engine, readerHost, user, pw).join() === range(1, 60).join()), 'the reader endpoint reaches a replica with the same credentials')

    // The filter: the set's members reach each other's engine port, both ways; the outsider does not.
    const els = replicationElements(c)
    for (const [from, to] of [
      [ip1, ipS],
      [ipS, ip1],
      [ip2, ipS],
      [ip1, ip2],
    ])
      t.ok(els.includes(`${from} ${to} ${port}`), `the replication set lets ${from} reach ${to}:${port}`)
    t.equal(await probeFrom(c, r1.id, ipS, port), 0, "replica 1 opens a connection to the source's port")
    t.equal(await probeFrom(c, src.id, ip2, port), 0, "the source opens one to replica 2's (both ways: promote needs no rule change)")
    t.not(await probeFrom(c, out.id, ipS, port), 0, "the outsider cannot open a connection to the source's port")
    t.not(await probeFrom(c, out.id, ip1, port), 0, "nor to a replica's")

    stage('the filter checked')
    // Promote replica 1: the roles switch, writes flow the other way (to the old source and replica 2).
    await client.instances.promoteToReplicaSource(r1.id)
    const p1 = await settled(t, c, client, r1.id, 'the promoted replica', (i) => i.status === 'ACTIVE' && !i.replica_of)
    const old = await settled(t, c, client, src.id, 'the old source', (i) => i.status === 'ACTIVE' && !!i.replica_of)
    if (!p1 || !old) return
    t.pass('replica 1 is the source now, the old source follows it')
    writeRows(engine, ip1, user, pw, 61, 70)
    await converges(t, c, [src.id, r1.id], () => rows(engine, ipS, user, pw).join() === range(1, 70).join(), 'writes on the new source reach the old one')
    await converges(t, c, [r2.id, r1.id], () => rows(engine, ip2, user, pw).join() === range(1, 70).join(), 'and replica 2')
    t.equal(await probeFrom(c, src.id, ip1, port), 0, "the old source reaches the new source's port")
    t.not(await probeFrom(c, out.id, ip1, port), 0, 'the outsider still does not')

    stage('promoted')
    // Eject: the new source (replica 1) dies, its agent stopped and its engine killed; once its heartbeat is
    // stale, the most advanced of the two others becomes the source and the other follows it, through rules
    // that were already there.
    await c.stopAgent(r1.id)
    await execInSandbox(c.runtime, r1.id, ['sh', '-c', 'kill -9 -1'])
    // kill -9 is sent, not done: the engine's port answers until the kernel has ended it (seen on a busy machine).
    t.ok(await until(async () => (await probeFrom(c, src.id, ip1, port)) !== 0), "replica 1's engine is gone")
    const accepted = await until(async () => {
      try {
        await client.instances.ejectReplicaSource(r1.id)
        return true
      } catch {
        return false
      }
    }, 120_000)
    t.ok(accepted, 'eject accepted once its heartbeat is stale')
    let pair: [Instance, Instance] | undefined
    t.ok(
      await until(async () => {
        const [a, b] = await Promise.all([client.instances.get(src.id), client.instances.get(r2.id)])
        const followsOf = (x: Instance, y: Instance) => !y.replica_of && x.replica_of?.id === y.id && x.status === 'ACTIVE' && y.status === 'ACTIVE'
        pair = followsOf(a, b) ? [b, a] : followsOf(b, a) ? [a, b] : undefined
        return pair !== undefined
      }),
      'one of the others is the source, the other follows it',
    )
    if (!pair) {
      for (const id of [src.id, r2.id]) report(t, c, await client.instances.get(id), 'after the eject')
      return
    }
    stage('ejected')
    const [nw, fol] = pair
    const [ipN, ipF] = [nw.ip![0]!, fol.ip![0]!]
    writeRows(engine, ipN, user, pw, 71, 80)
    await converges(t, c, [fol.id, nw.id], () => rows(engine, ipF, user, pw).join() === range(1, 80).join(), 'writes on the new source reach the follower')
    t.ok(await until(() => !replicationElements(c).some((e) => e.split(' ').includes(ip1)), 60_000), 'the ejected source left the set: no element names it')
    t.equal(await probeFrom(c, fol.id, ipN, port), 0, "the follower reaches the new source's port")

    stage('the new source streams')
    // Detach the follower: out of the set, its elements go; it can no longer open a connection to the source.
    await client.instances.detachReplica(fol.id)
    if (!(await settled(t, c, client, fol.id, 'the detached follower', (i) => i.status === 'ACTIVE' && !i.replica_of))) return
    t.pass('the follower is detached')
    t.ok(await until(() => !replicationElements(c).some((e) => e.split(' ').includes(ipF)), 60_000), "no element names the detached member's address")
    t.not(await probeFrom(c, fol.id, ipN, port), 0, "it cannot open a connection to the source's port any more")
    t.not(await probeFrom(c, out.id, ipN, port), 0, 'nor can the outsider')

    stage('detached')
    // Delete: every member; no element of the set is left.
    for (const id of [src.id, r1.id, r2.id]) await client.instances.delete(id)
    for (const id of [src.id, r1.id, r2.id]) t.ok(await until(async () => (await client.instances.get(id).catch(() => undefined)) === undefined), `${id} deleted`)
    t.notOk(
      replicationElements(c).some((e) => [ipS, ip1, ip2].some((a) => e.split(' ').includes(a))),
      'no element of the set is left',
    )
    stage('deleted')
  }
})
