// A sandboxed instance across a restart of the server, the death of its agent, a host reboot, and `trove server
// reset` (docs/isolation.md, issue 14): the engine outlives its agent, a reboot's losses are made again at
// start, and a reset leaves nothing of the lab on the host.
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync, readlinkSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { removeFirewall, tableName } from '../../src/server/compute/firewall.js'
import { execInSandbox, sandboxCgroupDirs, sweepSandboxes } from '../../src/server/compute/sandbox.js'
import { removeSandboxLab } from '../../src/server/compute/sandbox-lab.js'
import type { SandboxedCompute } from '../../src/server/compute/sandboxed.js'
import { UID_CLAIM_DIR } from '../../src/server/compute/uids.js'
import { Reconciler } from '../../src/server/reconcile.js'
import { resetLab } from '../../src/server/index.js'
import { labClient, tempDir, buildServer } from '../helpers/lab.js'
import { sandboxLacking } from '../helpers/sandbox-host.js'
import { exeOf, netnsOf, nsPidOf, nsProcesses, redis, sandboxPids, statusField, uidsOf, waitStatus } from '../helpers/sandbox-proc.js'

const why = sandboxLacking(['redis'], [['catatonit', ['--version']]])
if (why) t.plan(0, why)

/**
 * What a host reboot takes from a lab, done to it by hand (the server stopped): the sandboxes' processes and
 * cgroups, the volume's mount and loop device, the instance's namespace, the bridge, the nft tables, and the
 * claims on /run (the uid's and the subnet's). Only this test's lab's parts.
 */
async function simulateReboot(c: SandboxedCompute, id: string, uid: number, netns: string): Promise<void> {
  await sweepSandboxes(c.runtime, [])
  const mnt = join(c.instanceDir(id), 'mnt')
  const device = execFileSync('findmnt', ['-n', '-o', 'SOURCE', '--target', mnt], { encoding: 'utf8' }).trim()
  execFileSync('umount', [mnt])
  execFileSync('losetup', ['--detach', device])
  execFileSync('ip', ['netns', 'del', netns])
  execFileSync('ip', ['link', 'del', 'dev', c.network.bridge])
  await removeFirewall({ labId: c.labId })
  rmSync(join(UID_CLAIM_DIR, String(uid)))
  rmSync(join(c.network.claimDir, c.network.subnet.replace('/', '_')))
}

t.test('a server restart keeps a sandboxed instance running; a host reboot makes it again; trove server reset removes every part of the lab', async (t) => {
  const dataDir = join(tempDir(t), 'lab')
  const open = async () => {
    const server = await buildServer({ dataDir, host: '127.0.0.1', port: 0, isolation: 'sandbox', reconcileMs: 0, log: () => {} })
    const { cloudsFile } = await server.start()
    return { server, client: labClient(cloudsFile), admin: labClient(cloudsFile, {}, 'trove-lab-admin'), c: server.lab.compute as SandboxedCompute }
  }
  let lab = await open()
  const first = lab.c
  t.teardown(async () => {
    await lab.server.close().catch(() => undefined)
    await removeSandboxLab(first)
  })
  const inst = await lab.client.instances.create({ name: 'sb-restart', flavorRef: '1', volume: { size: 1 }, datastore: { type: 'redis' } })
  const up = await waitStatus(lab.client, inst.id, 'BUILD')
  t.equal(up.status, 'ACTIVE')
  const ip = up.ip![0]!
  const root = await lab.client.root.enable(inst.id)
  t.match(await redis(ip, root.password, ['SET k kept']), /\+OK\r\n\+OK/, 'a key written')
  // The agent's own log is in its volume (it writes it there itself), so the admin's `guest` log publishes.
  t.ok((await lab.admin.logs.action(inst.id, 'guest', { publish: true })).published > 0, 'the guest log is published')
  t.match(JSON.stringify(await lab.admin.logs.contents(inst.id, 'guest')), /agent \d+ starting for instance/, "it is the agent's log")
  const agent = lab.c.agentPid(inst.id)

  // The server stops and starts again: the sandbox keeps running, its agent finds the broker again.
  await lab.server.close()
  t.ok(first.agentAlive(inst.id), 'the agent runs on while no server does')
  lab = await open()
  t.equal(lab.c.agentPid(inst.id), agent, 'the same agent (not restarted by the new server)')
  const deadline = Date.now() + 60_000
  let shown = await lab.client.instances.get(inst.id)
  while (shown.volume?.used === undefined && Date.now() < deadline) {
    await sleep(200)
    shown = await lab.client.instances.get(inst.id)
  }
  t.equal(shown.status, 'ACTIVE')
  t.ok(shown.volume?.used !== undefined, 'the agent answers the new server (volume usage from the guest)')
  t.match(await redis(ip, root.password, ['GET k']), /\+OK\r\n\$4\r\nkept\r\n/, 'the engine kept running with its data')

  // The agent dies (kill -9). The sandbox's init is catatonit, not the agent: the engine runs on, the same
  // process, re-parented to the init and answering; the reconciler starts a new agent in the same sandbox
  // (runc exec, as the instance's uid with the sandbox's profile), which re-adopts that engine.
  t.match(await redis(ip, root.password, ['SAVE']), /\+OK\r\n\+OK/, 'saved')
  const engineOf = () => sandboxPids(lab.c, inst.id).find((p) => /redis-(server|check-rdb)$/.test(exeOf(p)))
  const engine = engineOf()!
  const init = Number(readFileSync(join(lab.c.instanceDir(inst.id), 'bundle', 'init.pid'), 'utf8'))
  t.match(exeOf(init), /catatonit$/, "the sandbox's init is catatonit")
  let pidNs = readlinkSync(`/proc/${engine}/ns/pid`)
  const reported = lab.server.lab.instances.guestStatus(inst.id)?.engine_pid
  t.equal(reported, nsPidOf(engine), 'the agent reports the engine it runs')
  const oldAgent = lab.c.agentPid(inst.id)!
  t.equal(readlinkSync(`/proc/${oldAgent}/ns/pid`), pidNs, 'the agent is in the sandbox')
  t.equal(Number(statusField(oldAgent, 'PPid')), init, "the agent's parent is the sandbox's init (it reaps the agent's end, not the host)")
  process.kill(oldAgent, 'SIGKILL')
  while (lab.c.agentAlive(inst.id)) await sleep(20)
  t.ok(existsSync(`/proc/${engine}`), `the engine (host pid ${engine}) outlives its agent`)
  // The agent leaves its cgroup (agentAlive false) a moment before the kernel re-parents its children.
  const reparented = Date.now() + 20_000
  while (Number(statusField(engine, 'PPid')) !== init && Date.now() < reparented) await sleep(20)
  t.equal(Number(statusField(engine, 'PPid')), init, "re-parented to the sandbox's init")
  t.match(await redis(ip, root.password, ['GET k']), /\+OK\r\n\$4\r\nkept\r\n/, 'and answers with no agent')
  const report = await new Reconciler(lab.server.lab, {}).run()
  t.same(report.restartedAgents, [inst.id], 'the reconciler started a new agent')
  const agent2 = lab.c.agentPid(inst.id)!
  t.ok(agent2 && agent2 !== oldAgent, `a new agent: ${oldAgent} -> ${agent2}`)
  t.equal(readlinkSync(`/proc/${agent2}/ns/pid`), pidNs, 'in the same sandbox (runc exec)')
  t.equal(Number(readFileSync(join(lab.c.instanceDir(inst.id), 'bundle', 'init.pid'), 'utf8')), init, 'under the same init')
  t.equal(Number(statusField(agent2, 'PPid')), init, "the new agent's parent is the sandbox's init too")
  const recR = JSON.parse(readFileSync(join(lab.c.instanceDir(inst.id), 'sandbox.json'), 'utf8')) as { uid: number }
  t.same(uidsOf(agent2), [recR.uid, recR.uid, recR.uid, recR.uid], "the new agent runs as the instance's uid")
  t.equal(statusField(agent2, 'NoNewPrivs'), '1', 'with no_new_privs')
  t.equal(statusField(agent2, 'Seccomp'), '2', 'filtered by the seccomp profile')
  t.equal(statusField(agent2, 'CapEff'), '0000000000000000', 'and no capability')
  // Re-adopted: the new agent's heartbeat names the same engine, which never stopped.
  const adopted = Date.now() + 60_000
  let st = lab.server.lab.instances.guestStatus(inst.id)
  while (st?.agent_pid !== nsPidOf(agent2) && Date.now() < adopted) {
    await sleep(100)
    st = lab.server.lab.instances.guestStatus(inst.id)
  }
  t.equal(st?.agent_pid, nsPidOf(agent2), 'the new agent reports')
  t.equal(st?.engine_pid, reported, 'the same engine pid, re-adopted')
  t.equal(engineOf(), engine, 'the same engine process on the host')
  t.match(await redis(ip, root.password, ['GET k']), /\+OK\r\n\$4\r\nkept\r\n/, 'which still answers')

  // The init reaps what is re-parented to it: an orphan that exits leaves no zombie in the namespace.
  await execInSandbox(lab.c.runtime, inst.id, ['sh', '-c', 'sleep 0.5 & exit 0'])
  const reaped = Date.now() + 20_000
  while (nsProcesses(pidNs).some((p) => p.comm === 'sleep') && Date.now() < reaped) await sleep(50)
  // The killed agent's zombie included: its parent is the init too (the launcher, sandbox-launch.ts).
  t.same(
    nsProcesses(pidNs).filter((p) => p.comm === 'sleep' || p.state === 'Z'),
    [],
    "the orphan and the killed agent are reaped: no zombie in the sandbox's PID namespace",
  )

  // restart still restarts the engine (the agent stops it, the next one starts it).
  await lab.client.instances.restart(inst.id)
  t.equal((await waitStatus(lab.client, inst.id, 'REBOOT')).status, 'ACTIVE', 'restart: ACTIVE again')
  const engine2 = engineOf()
  t.ok(engine2 && engine2 !== engine, `restart: a new engine process: ${engine} -> ${engine2}`)
  t.match(await redis(ip, root.password, ['GET k']), /\+OK\r\n\$4\r\nkept\r\n/, 'restart: the engine answers with its data')
  t.equal(readlinkSync(`/proc/${engine2}/ns/pid`), pidNs, 'in the same sandbox')

  // A host reboot (the server stopped first): every process, loop device, mount and namespace, the bridge, the
  // packet filter and the claims on /run are gone; the data dir stays. The next server makes them again at
  // start (sandbox-recover.ts): the instance comes back with its address, uid, volume and data.
  const before = JSON.parse(readFileSync(join(lab.c.instanceDir(inst.id), 'sandbox.json'), 'utf8')) as { uid: number; address: string }
  const netns = netnsOf(lab.c, inst.id)
  await lab.server.close()
  await simulateReboot(lab.c, inst.id, before.uid, netns)
  t.notOk(existsSync(`/run/netns/${netns}`), 'reboot: no namespace')
  t.notOk(existsSync(join(UID_CLAIM_DIR, String(before.uid))), 'reboot: no uid claim')
  lab = await open()
  const again = Date.now() + 120_000
  while (lab.server.lab.instances.guestStatus(inst.id)?.agent_pid !== nsPidOf(lab.c.agentPid(inst.id) ?? 0) && Date.now() < again) await sleep(100)
  t.equal((await lab.client.instances.get(inst.id)).status, 'ACTIVE', 'reboot: ACTIVE again with a new agent')
  const after = JSON.parse(readFileSync(join(lab.c.instanceDir(inst.id), 'sandbox.json'), 'utf8')) as { uid: number; address: string }
  t.equal(after.address, before.address, `reboot: the same address ${before.address}`)
  t.equal(readFileSync(join(UID_CLAIM_DIR, String(before.uid)), 'utf8'), lab.c.instanceDir(inst.id), 'reboot: its uid claimed again for it')
  t.ok(execFileSync('nft', ['list', 'tables'], { encoding: 'utf8' }).includes(tableName(lab.c.labId)), 'reboot: the packet filter is back')
  t.match(await redis(ip, root.password, ['GET k']), /\+OK\r\n\$4\r\nkept\r\n/, 'reboot: the engine answers at its address with its data')
  const agent3 = lab.c.agentPid(inst.id)!
  t.same(uidsOf(agent3), [before.uid, before.uid, before.uid, before.uid], "reboot: the agent runs as the instance's uid")
  pidNs = readlinkSync(`/proc/${agent3}/ns/pid`)

  // trove server reset (the server stopped): nothing of the lab is left on the host.
  const net = lab.c.network
  const rec = JSON.parse(readFileSync(join(lab.c.instanceDir(inst.id), 'sandbox.json'), 'utf8')) as { uid: number }
  const image = join(lab.c.instanceDir(inst.id), 'volume.img')
  await lab.server.close()
  await resetLab(dataDir)
  t.notOk(existsSync(dataDir), 'the data dir is gone')
  t.equal(execFileSync('ip', ['-br', 'link', 'show', 'type', 'bridge'], { encoding: 'utf8' }).includes(net.bridge), false, 'no lab bridge')
  t.notOk(execFileSync('nft', ['list', 'tables'], { encoding: 'utf8' }).includes(tableName(lab.c.labId)), 'no nft tables')
  t.equal(execFileSync('losetup', ['-j', image], { encoding: 'utf8' }).trim(), '', 'no loop device')
  t.notOk(existsSync(`/run/netns/${netns}`), 'no network namespace')
  t.notOk(existsSync(join(UID_CLAIM_DIR, String(rec.uid))), 'no uid claim')
  t.same(
    sandboxCgroupDirs(lab.c.runtime).filter((d) => existsSync(d)),
    [],
    "no cgroup parent of the lab's sandboxes",
  )
  t.notOk(lab.c.agentAlive(inst.id), 'no agent')
  // The init itself is reaped by its host parent (PID 1 of the host), which may take a moment.
  const emptied = Date.now() + 20_000
  while (nsProcesses(pidNs).length && Date.now() < emptied) await sleep(50)
  t.same(nsProcesses(pidNs), [], "no process left in the sandbox's PID namespace")
})
