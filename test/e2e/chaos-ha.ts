// Fault verbs and the HA checker (issue 16 items 6-7) on a sandboxed replication set, end to end: real runc,
// nft, HAProxy and engines. Each verb is injected into a replica first and shown to act on it alone (its
// peers, the source and the host untouched); then the checker's clients write through the writer endpoint
// while the primary is faulted, the set fails over by itself (auto_failover on, ha-run.ts HA_LAB's timings),
// the old primary is healed and rejoins as a replica by itself, and every member is read: lost and split-brain
// writes, the failover time and the time to the set whole again are reported. `npm test`: PostgreSQL, a partition. `npm run chaos` (CHAOS=long): every engine
// and every fault kind (control-plane-down: the lab's server closed and a new one started), a fresh set for each.
import t, { type Test } from 'tap'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { removeSandboxLab } from '../../src/server/compute/sandbox-lab.js'
import { execInSandbox } from '../../src/server/compute/sandbox.js'
import { Reconciler } from '../../src/server/reconcile.js'
import type { SandboxedCompute } from '../../src/server/compute/sandboxed.js'
import type { TroveClient } from '../../src/sdk/index.js'
import { labClient, runCli, startLab, buildServer } from '../helpers/lab.js'
import { sandboxLacking } from '../helpers/sandbox-host.js'
import { reportLine, serverOf, type Engine } from '../helpers/ha-checker.js'
import { ENGINE_PORTS, HA_LAB, SCENARIOS, createSet, deleteSet, runFault, until, type ControlPlane, type HaSet } from '../helpers/ha-run.js'

const LONG = process.env.CHAOS === 'long'
// CHAOS_HA_ENGINES, CHAOS_HA_KINDS (comma-separated): a part of the long run (a scenario rehearsed alone).
const ENGINES = (process.env.CHAOS_HA_ENGINES?.split(',') ?? (LONG ? ['postgresql', 'mariadb', 'redis'] : ['postgresql'])) as Engine[]
const KINDS = process.env.CHAOS_HA_KINDS?.split(',') ?? (LONG ? Object.keys(SCENARIOS) : ['partition'])

const why = sandboxLacking(ENGINES)
if (why) t.plan(0, why)

/** Whether the member answers its own engine port from the host within 4 s. */
async function answers(set: HaSet, client: TroveClient, id: string): Promise<boolean> {
  try {
    await serverOf(set.member(await client.instances.get(id)))
    return true
  } catch {
    return false
  }
}

/** A TCP connect from inside one sandbox to ip:port (bash's /dev/tcp, given up after 4 s): true when it opened. */
async function reaches(c: SandboxedCompute, from: string, ip: string, port: number): Promise<boolean> {
  return (await execInSandbox(c.runtime, from, ['timeout', '4', 'bash', '-c', `exec 3<>/dev/tcp/${ip}/${port}`])).code === 0
}

t.test('fault verbs and the HA checker on sandboxed replication sets', async (t) => {
  // The auto-failover tests' HA timings. No periodic reconciliation: its sandbox sweep can take a netns made
  // during its pass for a leftover (sandbox-sweep.ts lists the instance directories first, the namespaces later)
  // and fail a create; the test runs a pass itself where it needs one (a killed agent started again).
  const options = { isolation: 'sandbox', reconcileMs: 0, ...HA_LAB } as const
  const lab = await startLab(t, options)
  // The control-plane-down scenario replaces the server (and with it the API's port and these clients).
  let server = lab.server
  let reconciler = new Reconciler(server.lab, {})
  const c = lab.server.lab.compute as SandboxedCompute
  // First of the teardowns (last registered): the server closes (no flow still acting on an instance), then the
  // sandboxes go, before the lab's temporary directory is removed.
  t.teardown(async () => {
    await server.close()
    await removeSandboxLab(server.lab.compute as SandboxedCompute)
  })
  // The server's log where a failure can be read after the run (HA_LOG=FILE).
  if (process.env.HA_LOG) t.teardown(() => writeFileSync(process.env.HA_LOG!, lab.logs.join('\n')))
  let client = labClient(lab.cloudsFile)
  let admin = labClient(lab.cloudsFile, {}, 'trove-lab-admin')
  const controlPlane: ControlPlane = {
    stop: () => server.close(),
    async start() {
      server = await buildServer({ dataDir: lab.dataDir, host: '127.0.0.1', port: 0, log: (m) => lab.logs.push(m), ...options })
      const { cloudsFile } = await server.start()
      reconciler = new Reconciler(server.lab, {})
      client = labClient(cloudsFile)
      admin = labClient(cloudsFile, {}, 'trove-lab-admin')
      return { client, admin }
    },
  }
  const adminEnv = { ...lab.env, OS_CLOUD: 'trove-lab-admin' }

  for (const engine of ENGINES) await t.test(engine, (t) => verbs(t, engine))
  for (const engine of ENGINES) for (const kind of KINDS) await t.test(`${engine}: checker over ${kind}`, (t) => checker(t, engine, kind))

  /** Each verb on a replica: it acts there and nowhere else, and what follows is what AFTER says. */
  async function verbs(t: Test, engine: Engine): Promise<void> {
    const set = await createSet(client, engine, `hv-${engine}`)
    const [src, rep] = set.ids as [string, string]
    const port = ENGINE_PORTS[engine]
    const ipS = (await client.instances.get(src)).ip![0]!
    const ipR = (await client.instances.get(rep)).ip![0]!
    const srcAgent = c.agentPid(src)

    // Admin only; one-line errors in the CLI.
    await t.rejects(client.mgmtInstances.injectFault(rep, 'pause'), { status: 401, message: /admin privileges/ }, 'a member is refused (401, as on every mgmt route)')
    const bad = await runCli(['admin', 'fault', 'inject', rep, 'reboot'], adminEnv)
    t.same([bad.code, bad.stderr.trim().split('\n').length], [2, 1], 'an unknown kind: a usage error, one line')
    t.match(bad.stderr, /invalid fault kind 'reboot' \(choose from kill-engine, kill-agent, pause, partition, heal\)/)

    // kill-agent: the engine runs on; the reconciler starts a new agent.
    const agent = c.agentPid(rep)
    t.ok(agent, 'the replica has an agent')
    t.match((await admin.mgmtInstances.injectFault(rep, 'kill-agent')).effect, `SIGKILL to the agent (${agent})`)
    t.ok(await answers(set, client, rep), 'kill-agent: the replica engine answers on')
    t.equal(c.agentPid(rep), undefined, 'its agent is gone')
    t.same((await reconciler.run()).restartedAgents, [rep], 'the next reconciliation pass starts a new agent')
    t.ok(await until(() => c.agentPid(rep) !== undefined && c.agentPid(rep) !== agent, 120_000), 'which runs')

    // kill-engine through the real CLI: the replica's engine dies and its supervisor restarts it.
    const killed = await runCli(['admin', 'fault', 'inject', rep, 'kill-engine', '-f', 'json'], adminEnv)
    t.equal(killed.code, 0, `kill-engine through the CLI: ${killed.stderr}`)
    t.match(JSON.parse(killed.stdout), { instance_id: rep, kind: 'kill-engine', effect: /^SIGKILL to the engine's processes \(\d+/ })
    t.ok(await until(() => answers(set, client, rep), 120_000), 'the engine is back (the supervisor)')

    // pause: the replica answers nothing until heal; the source answers throughout.
    await admin.mgmtInstances.injectFault(rep, 'pause')
    t.notOk(await answers(set, client, rep), 'paused: the replica does not answer')
    t.ok(await answers(set, client, src), 'the source does')
    await t.rejects(admin.mgmtInstances.injectFault(rep, 'pause'), { status: 409, message: /paused already/ }, 'paused twice: 409')
    t.match((await admin.mgmtInstances.injectFault(rep, 'heal')).effect, /thawed/)
    t.ok(await until(() => answers(set, client, rep), 60_000), 'healed: it answers again')

    // partition: cut off from the host and its peer both ways; the peer and the endpoints are not.
    await admin.mgmtInstances.injectFault(rep, 'partition')
    t.notOk(await answers(set, client, rep), 'partitioned: the host cannot reach it')
    t.notOk(await reaches(c, src, ipR, port), 'nor its source')
    t.notOk(await reaches(c, rep, ipS, port), 'nor it its source')
    t.ok(await answers(set, client, src), 'the source answers the host')
    t.equal(await serverOf(set.writer), engine === 'mariadb' ? await serverOf(set.member(await client.instances.get(src))) : ipS, 'the writer endpoint reaches the source')
    t.match((await admin.mgmtInstances.injectFault(rep, 'heal')).effect, /its network restored/)
    t.ok(await until(() => answers(set, client, rep), 60_000), 'healed: the host reaches it again')
    t.ok(await reaches(c, src, ipR, port), 'and so does its source')
    t.equal(c.agentPid(src), srcAgent, "no verb reached the source's agent")
    await deleteSet(client, set)
  }

  /** One checker run over one fault of the primary. */
  async function checker(t: Test, engine: Engine, kind: string): Promise<void> {
    // Two replicas, as bench/failover.mjs makes them (a failover leaves the new primary one replica while the old
    // primary rejoins).
    const set = await createSet(client, engine, `hc-${engine}-${kind.replace(/\W/g, '')}`, 2)
    const t0 = Date.now()
    const agentLog = (id: string) => (existsSync(join(lab.dataDir, 'instances', id, 'mnt', 'agent.log')) ? readFileSync(join(lab.dataDir, 'instances', id, 'mnt', 'agent.log'), 'utf8') : '')
    const run = await runFault({
      client,
      admin,
      set,
      primaryId: set.ids[0]!,
      scenario: kind,
      clients: 2,
      pauseMs: 20_000,
      reconcile: () => reconciler.run(),
      log: (m) => t.comment(m),
      agentLog,
      controlPlane,
    })
    const r = run.report
    t.comment(`${engine} ${kind} (automatic failover): ${reportLine(r)}; lost keys ${JSON.stringify(r.lost.slice(0, 20))} (run ${((Date.now() - t0) / 1000).toFixed(0)} s)`)
    t.ok(r.acked > 50, `writes acknowledged (${r.acked})`)
    // kill-engine alone: the supervisor restarts the engine in place, unless that takes longer than the lease and
    // margin, and then the set fails over (ha-run.ts SCENARIOS); either is right, the report says which.
    if (kind === 'kill-engine') t.equal(run.newPrimaryId === set.ids[0], !r.failedOver, `recovered ${r.failedOver ? 'by a failover' : 'in place'}`)
    else {
      t.ok(r.failedOver, 'the writer endpoint reaches a new primary')
      t.not(run.newPrimaryId, set.ids[0], 'which is a former replica')
    }
    t.ok(run.wholeMs !== undefined, `the set whole again (${r.failedOver ? 'the old primary rejoined as a replica' : 'in place'}) in ${((run.wholeMs ?? 0) / 1000).toFixed(1)} s`)
    t.ok(r.failoverMs !== undefined, 'with a first acknowledged write after the fault')
    // Cut off from the control plane and its replicas, the primary stops its engine by its lease (MariaDB: its cut-off
    // replicas' dump threads, still listed, are not counted once their connections go silent: silent-peers.ts).
    if (kind === 'partition') t.ok(run.fencedMs !== undefined, `the cut-off primary fenced itself before the heal (${run.fencedMs} ms after the fault)`)
    // PostgreSQL: the other replica follows the new primary with a reload, its engine not restarted.
    const sibling = set.ids.find((id) => id !== set.ids[0] && id !== run.newPrimaryId)
    if (engine === 'postgresql' && r.failedOver && sibling) t.match(agentLog(sibling), /primary_conninfo reloaded, no restart/, 'the other replica followed the new primary without a restart')
    t.same(r.splitBrain, [], 'no write accepted by the old primary after the new one took one')
    t.same(r.phantom, [], 'no key nobody sent')
    t.same(run.unreadable, [], 'every member read')
    await deleteSet(client, set)
  }
})
