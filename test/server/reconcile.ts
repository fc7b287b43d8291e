import t from 'tap'
import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { randomUUID } from 'node:crypto'
import { apiLab } from '../helpers/api.js'
import { scriptedAgent, until } from '../helpers/scripted-agent.js'
import { Reconciler } from '../../src/server/reconcile.js'
import { CLAIM_DIR } from '../../src/server/compute/addresses.js'
import { instanceGroupDirs } from '../../src/server/compute/cgroups.js'
import { isAlive } from '../../src/server/compute/processes.js'
import { isoNow } from '../../src/server/db/index.js'

const createBody = (name: string) => ({ instance: { name, flavorRef: '1', volume: { size: 1 }, datastore: { type: 'redis' } } })
const old = new Date(Date.now() - 3600_000)

t.test('reconcile: instances stuck in a transient task with no flow are ended; resting ones are left alone', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false, rateLimits: [], reconcileMs: 0 })
  const p = `/v1.0/${lab.demo.project}`
  const L = lab.server.lab
  const ids: string[] = []
  for (const name of ['reboot', 'build', 'delete', 'resting', 'busy']) {
    const id = (await lab.req('POST', `${p}/instances`, { body: createBody(name) })).body.instance.id as string
    const agent = await scriptedAgent(lab.dataDir, id)
    t.teardown(() => agent.close())
    await agent.heartbeat('HEALTHY')
    await until(() => L.instances.get(id)?.server_status === 'ACTIVE', 5000, `${name} ACTIVE`)
    ids.push(id)
  }
  const [reboot, build, del, resting, busy] = ids as [string, string, string, string, string]
  const setTask = (id: string, task: number, start: string | null) => L.db.prepare('UPDATE instances SET task_id = ?, task_start_time = ? WHERE id = ?').run(task, start, id)
  const longAgo = old.toISOString().replace('Z', '')
  setTask(reboot, 0x03, longAgo)
  setTask(build, 0x05, longAgo)
  L.db.prepare("UPDATE instances SET server_status = 'BUILD' WHERE id = ?").run(build)
  setTask(del, 0x02, longAgo)
  setTask(resting, 0x07, longAgo) // RESTART_REQUIRED: a resting state
  setTask(busy, 0x03, longAgo)
  L.db
    .prepare("INSERT INTO tasks (id, instance_id, kind, state, step, payload, created, updated) VALUES (?, ?, 'restart_instance', 'running', 'restart', '{}', ?, ?)")
    .run(randomUUID(), busy, isoNow(), isoNow())
  // A task set a moment ago is within the grace period (its flow is about to be submitted).
  const fresh = (await lab.req('POST', `${p}/instances`, { body: createBody('fresh') })).body.instance.id as string
  L.db.prepare("UPDATE tasks SET state = 'failed' WHERE instance_id = ?").run(fresh)

  const report = await new Reconciler(L, { spawnAgents: false, graceMs: 30_000, stuckAfterMs: 30_000 }).run()
  t.same(
    report.stuckTasks.map((s) => [s.id, s.task, s.outcome]).sort(),
    [
      [reboot, 'REBOOTING', 'task NONE'],
      [build, 'BUILDING', 'ERROR with a fault'],
      [del, 'DELETING', 'delete submitted again'],
    ].sort(),
    'only the three stuck ones were ended',
  )
  const show = async (id: string) => (await lab.req('GET', `${p}/instances/${id}`)).body.instance
  t.match(await show(reboot), { status: 'ACTIVE' }, 'a lost restart ends with task NONE (upstream finally)')
  t.match(await show(build), { status: 'ERROR', fault: { message: 'The build was interrupted and no flow is left to finish it.' } }, 'a lost build: ERROR with a fault')
  await until(async () => (await lab.req('GET', `${p}/instances/${del}`)).status === 404, 10_000, 'the resubmitted delete')
  t.match(await show(resting), { status: 'RESTART_REQUIRED' }, 'RESTART_REQUIRED is left alone')
  t.match(await show(busy), { status: 'REBOOT' }, 'an instance whose flow runs is left alone')
  t.match(await show(fresh), { status: 'BUILD' }, 'a task within the grace period is left alone')
  t.ok(
    lab.logs.some((l) => l.includes(`reconcile: instance ${build} was left in task BUILDING`)),
    'reported in the log',
  )
})

t.test('reconcile: directories, processes, claims and cgroups of deleted or unknown instances are removed', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false, rateLimits: [], reconcileMs: 0 })
  const p = `/v1.0/${lab.demo.project}`
  const L = lab.server.lab
  const live = (await lab.req('POST', `${p}/instances`, { body: createBody('live') })).body.instance.id as string
  const liveAddress = L.instances.get(live)!.address!
  const gone = (await lab.req('POST', `${p}/instances`, { body: createBody('gone') })).body.instance.id as string
  const goneAddress = L.instances.get(gone)!.address!
  // The row is deleted but everything of it stayed behind (a crash mid-delete of an older version).
  L.instances.markDeleted(gone)
  L.db.prepare("UPDATE tasks SET state = 'done' WHERE instance_id = ?").run(gone)
  const goneDir = L.compute.instanceDir(gone)
  const groups = instanceGroupDirs(gone)
  for (const g of groups) mkdirSync(g, { recursive: true })
  // An engine left running for it (a process whose working directory is in its directory).
  mkdirSync(join(goneDir, 'data'), { recursive: true })
  const engine = spawn('sleep', ['600'], { cwd: join(goneDir, 'data'), stdio: 'ignore', detached: true })
  t.teardown(() => {
    try {
      process.kill(engine.pid!, 'SIGKILL')
    } catch {
      /* gone */
    }
  })
  // A directory and claim of an instance this lab never recorded (a crash between reserve and insert), long ago.
  const unknown = randomUUID()
  const unknownDir = L.compute.instanceDir(unknown)
  mkdirSync(unknownDir)
  const unknownAddress = '127.0.254.253'
  writeFileSync(join(CLAIM_DIR, unknownAddress), unknownDir)
  utimesSync(unknownDir, old, old)
  // One that is brand new (a create in progress) stays.
  const creating = randomUUID()
  mkdirSync(L.compute.instanceDir(creating))
  // Another lab's claim is none of our business.
  const foreignAddress = '127.0.254.252'
  writeFileSync(join(CLAIM_DIR, foreignAddress), `/elsewhere/instances/${unknown}`)
  t.teardown(() => {
    for (const a of [unknownAddress, foreignAddress]) rmSync(join(CLAIM_DIR, a), { force: true })
  })
  // A live instance whose claim vanished (a reboot emptied /run) gets it back.
  rmSync(join(CLAIM_DIR, liveAddress))

  const report = await new Reconciler(L, { spawnAgents: true, graceMs: 30_000 }).run()
  t.same(report.orphanProcesses, [engine.pid], "the deleted instance's engine was stopped")
  await until(() => !isAlive(engine.pid), 5000, 'engine gone')
  t.same(report.orphanDirs.sort(), [gone, unknown].sort(), 'directories of the deleted and the unknown instance removed')
  t.notOk(existsSync(goneDir))
  t.notOk(existsSync(unknownDir))
  t.ok(existsSync(L.compute.instanceDir(creating)), 'a directory younger than the grace period stays')
  t.ok(existsSync(L.compute.instanceDir(live)), "the live instance's directory stays")
  t.ok(report.staleClaims.includes(goneAddress) && report.staleClaims.includes(unknownAddress), 'stale claims released')
  t.notOk(existsSync(join(CLAIM_DIR, goneAddress)))
  t.notOk(existsSync(join(CLAIM_DIR, unknownAddress)))
  t.equal(readFileSync(join(CLAIM_DIR, foreignAddress), 'utf8'), `/elsewhere/instances/${unknown}`, "another lab's claim is untouched")
  t.equal(readFileSync(join(CLAIM_DIR, liveAddress), 'utf8'), L.compute.instanceDir(live), "the live instance's claim is made again")
  t.same(
    groups.filter((g) => existsSync(g)),
    [],
    "the deleted instance's cgroups are gone",
  )
  t.same(report.restartedAgents, [], 'no agent started for an instance still building')
  t.ok(
    lab.logs.some((l) => l.includes(`reconcile: instance ${gone} is deleted but processes ${engine.pid}`)),
    'reported in the log',
  )

  const again = await new Reconciler(L, { spawnAgents: true, graceMs: 30_000 }).run()
  t.same([again.orphanDirs, again.orphanProcesses, again.staleClaims, again.leftoverCgroups], [[], [], [], []], 'a second pass finds nothing')
})

t.test('heartbeat loss: status stays ACTIVE (the "server" is up), operating_status ERROR after the expiry, HEALTHY when heard again', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false, rateLimits: [], reconcileMs: 0, heartbeatExpiryMs: 2000 })
  const p = `/v1.0/${lab.demo.project}`
  const id = (await lab.req('POST', `${p}/instances`, { body: createBody('quiet') })).body.instance.id as string
  const agent = await scriptedAgent(lab.dataDir, id)
  t.teardown(() => agent.close())
  await agent.heartbeat('HEALTHY')
  const show = async () => (await lab.req('GET', `${p}/instances/${id}`)).body.instance
  await until(async () => (await show()).status === 'ACTIVE', 5000, 'ACTIVE')
  t.match(await show(), { status: 'ACTIVE', operating_status: 'HEALTHY' })
  await until(async () => (await show()).operating_status === 'ERROR', 3100, 'the heartbeat gone stale')
  t.match(await show(), { status: 'ACTIVE', operating_status: 'ERROR' }, 'stale heartbeat: "guestagent error" (internals.md 3.2), shown as ERROR')
  const mgmt = (await lab.req('GET', `/v1.0/${lab.admin.project}/mgmt/instances/${id}`, { token: lab.admin.token })).body.instance
  t.comment(`mgmt view while stale: status ${mgmt.status}, server ${JSON.stringify(mgmt.server?.status ?? null)}, service_status ${mgmt.service_status}`)
  await agent.heartbeat('HEALTHY')
  await until(async () => (await show()).operating_status === 'HEALTHY', 5000, 'HEALTHY again')
  t.pass('HEALTHY again once a heartbeat arrives')
})
