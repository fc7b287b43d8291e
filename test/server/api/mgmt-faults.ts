// Fault injection verbs (issue 16 item 6) through the API on an `--isolation none` lab: admin only (a member
// gets 401, as on every mgmt route), bad input refused with the kinds named, and each verb acting on the instance's own real processes
// (stand-ins for its agent and engine, found as the driver finds them), never on another instance's or the host's.
import t from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { INSTANCE_FILES } from '../../../src/protocol/index.js'
import { apiLab, type ApiLab } from '../../helpers/api.js'
import { scriptedAgent, until } from '../../helpers/scripted-agent.js'

const createBody = (name: string) => ({ instance: { name, flavorRef: '1', volume: { size: 1 }, datastore: { type: 'postgresql' } } })

/** A process that runs until killed: with `cwd` in an instance directory it is that instance's "engine" for the driver. */
function stayAlive(args: string[], cwd: string): ChildProcess {
  const p = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1e6)', ...args], { cwd, stdio: 'ignore' })
  t.teardown(() => {
    p.kill('SIGCONT')
    p.kill('SIGKILL')
  })
  return p
}

/** The process's state letter in /proc (R, S, T for stopped, ...); '' once gone. */
function stateOf(pid: number): string {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return s.slice(s.lastIndexOf(')') + 2, s.lastIndexOf(')') + 3)
  } catch {
    return ''
  }
}
const alive = (pid: number) => !['', 'Z', 'X'].includes(stateOf(pid))

/** An instance with a scripted agent on the broker and, on the host, an agent and an engine process of its own. */
async function instance(lab: ApiLab, name: string) {
  const { project, token } = lab.demo
  const id = (await lab.req('POST', `/v1.0/${project}/instances`, { body: createBody(name), token })).body.instance.id as string
  const broker = await scriptedAgent(lab.dataDir, id)
  t.teardown(() => broker.close())
  await broker.heartbeat('HEALTHY')
  const dir = lab.server.lab.compute.instanceDir(id)
  await until(() => lab.server.lab.compute.hasBootstrap(id), 5000, 'the bootstrap')
  // The agent's pid file names a process whose command line names the bootstrap (as a real agent's does).
  const agent = stayAlive([join(dir, INSTANCE_FILES.bootstrap)], '/')
  writeFileSync(join(dir, INSTANCE_FILES.agentPid), String(agent.pid))
  const engine = stayAlive([], dir)
  return { id, agent: agent.pid!, engine: engine.pid! }
}

t.test('fault verbs: admin only, bad input, and each verb on the instance own processes only', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false, rateLimits: [], reconcileMs: 0 })
  const a = lab.admin
  const path = (id: string) => `/v1.0/${a.project}/mgmt/instances/${id}/faults`
  const inject = (id: string, kind: unknown, token = a.token) => lab.req('POST', path(id), { body: { fault: { kind } }, token })
  const one = await instance(lab, 'f-one')
  const other = await instance(lab, 'f-other')

  const member = await lab.req('POST', `/v1.0/${lab.demo.project}/mgmt/instances/${one.id}/faults`, { body: { fault: { kind: 'pause' } } })
  t.same(member, { ...member, status: 401, body: { unauthorized: { code: 401, message: 'User does not have admin privileges.' } } }, 'a member gets what every mgmt route answers (401)')
  const kinds = 'kill-engine, kill-agent, pause, partition, heal'
  t.same((await inject(one.id, 'reboot')).body, { badRequest: { code: 400, message: `Invalid fault kind "reboot": one of ${kinds}.` } }, 'an unknown kind: 400 naming the kinds')
  t.same((await inject(one.id, undefined)).body, { badRequest: { code: 400, message: `Invalid fault kind null: one of ${kinds}.` } }, 'no kind')
  const badBody = await lab.req('POST', path(one.id), { body: { pause: {} }, token: a.token })
  t.same(badBody.body, { badRequest: { code: 400, message: `Invalid request body: expected {"fault": {"kind": KIND}}, KIND one of ${kinds}.` } }, 'a body without fault')
  const unknown = '0b7e2b7a-1111-4222-8333-444455556666'
  t.same((await inject(unknown, 'pause')).body, { itemNotFound: { code: 404, message: `Resource ${unknown} cannot be found.` } }, 'an unknown instance: 404')
  const partition = await inject(one.id, 'partition')
  t.equal(partition.status, 400, 'partition without a sandbox is refused')
  t.match(partition.body.badRequest.message, /has no network of its own \(isolation none.*--isolation sandbox/)
  t.ok(alive(one.engine) && alive(one.agent), 'a refused verb touched nothing')

  // kill-engine: the engine dies; its agent, the other instance and this process do not.
  const killed = await inject(one.id, 'kill-engine')
  t.equal(killed.status, 200, 'kill-engine answers 200')
  t.match(killed.body.fault, { instance_id: one.id, kind: 'kill-engine', effect: new RegExp(`SIGKILL to the engine's processes \\(${one.engine}\\)`), after: /supervisor restarts the engine/ })
  t.ok(Number.isFinite(Date.parse(killed.body.fault.injected_at)), 'with its time')
  await until(() => !alive(one.engine), 5000, 'the engine gone')
  t.ok(alive(one.agent), 'the agent of the instance runs on')
  t.ok(alive(other.engine) && alive(other.agent), "the other instance's processes run on")
  t.equal((await inject(one.id, 'kill-engine')).status, 409, 'nothing left to kill: 409')

  // pause stops agent and engine (SIGSTOP without a sandbox); heal lets them run again.
  const two = await instance(lab, 'f-two')
  t.equal((await inject(two.id, 'pause')).status, 200)
  await until(() => stateOf(two.engine) === 'T' && stateOf(two.agent) === 'T', 5000, 'both stopped')
  t.pass('pause stops the agent and the engine')
  t.not(stateOf(other.engine), 'T', 'not the other instance')
  const healed = await inject(two.id, 'heal')
  t.match(healed.body.fault.effect, /SIGCONT to the agent and the engine/)
  await until(() => stateOf(two.engine) !== 'T' && stateOf(two.agent) !== 'T', 5000, 'both running')
  t.pass('heal lets them run')

  // kill-agent: the agent dies, the engine runs on.
  t.match((await inject(two.id, 'kill-agent')).body.fault, { effect: `SIGKILL to the agent (${two.agent})` })
  await until(() => !alive(two.agent), 5000, 'the agent gone')
  t.ok(alive(two.engine), 'its engine runs on')
  t.ok(alive(other.agent), "the other instance's agent runs on")

  // Each fault is a notification with who and when; a refused one an .error.
  const ends = lab.server.lab.notifications.list('dbaas.instance_fault.end').map((n) => n.payload)
  t.same(
    ends.map((p) => [p.instance_id, p.kind]),
    [
      [one.id, 'kill-engine'],
      [two.id, 'pause'],
      [two.id, 'heal'],
      [two.id, 'kill-agent'],
    ],
    'one .end notification per fault done',
  )
  t.match(ends[0], { tenant_id: a.project, user_name: 'admin' })
  t.ok(
    lab.server.lab.notifications.list('dbaas.instance_fault.error').some((n) => n.payload.kind === 'partition'),
    'the refused partition is an .error',
  )

  // A deleted instance: 404.
  await lab.req('DELETE', `/v1.0/${lab.demo.project}/instances/${other.id}`)
  await until(async () => (await inject(other.id, 'heal')).status === 404, 30_000, 'the instance deleted')
  t.match((await inject(other.id, 'heal')).body, { itemNotFound: { code: 404 } }, 'a deleted instance: 404')
})
