import t from 'tap'
import mqtt from 'mqtt'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { apiLab } from '../helpers/api.js'
import { runMain, buildServer } from '../helpers/lab.js'
import { until } from '../helpers/scripted-agent.js'
import { agentEventTopic, agentReplyTopic, agentRpcTopic, encode, type AgentBootstrap, type RpcRequest } from '../../src/protocol/index.js'

/** A scripted agent: the instance's real credentials and topics, behaviour chosen by the test. */
async function scriptedAgent(dataDir: string, id: string, o: { answerStats?: boolean } = {}) {
  const boot = JSON.parse(readFileSync(join(dataDir, 'instances', id, 'agent.json'), 'utf8')) as AgentBootstrap
  const broker = JSON.parse(readFileSync(boot.brokerFile, 'utf8')) as { host: string; port: number }
  const client = await mqtt.connectAsync({
    host: broker.host,
    port: broker.port,
    protocol: 'mqtts',
    ca: boot.mqtt.ca,
    username: boot.mqtt.username,
    password: boot.mqtt.password,
    clientId: boot.mqtt.username,
    clean: false,
    reconnectPeriod: 200,
  })
  await client.subscribeAsync(agentRpcTopic(id), { qos: 1 })
  client.on('message', (_topic, payload) => {
    const req = JSON.parse(payload.toString()) as RpcRequest
    if (req.method === 'get_filesystem_stats' && o.answerStats === false) return
    if (req.reply) client.publish(agentReplyTopic(id), encode({ id: req.id, ok: true, result: req.method === 'get_filesystem_stats' ? { used: 0.1, total: 1, free: 1 } : true }), { qos: 1 })
  })
  return {
    boot,
    heartbeat: (status: 'BUILDING' | 'HEALTHY' | 'FAILED', fault?: string, extra: Record<string, unknown> = {}) =>
      client.publishAsync(agentEventTopic(id), encode({ kind: 'heartbeat', sent: Date.now(), status, agentPid: process.pid, ...(fault ? { fault } : {}), ...extra } as never), { qos: 1 }),
    close: () => client.endAsync(true),
  }
}

const body = (name: string) => ({ instance: { name, flavorRef: '1', volume: { size: 1 }, datastore: { type: 'postgresql' } } })

t.test('a guest failure or a build timeout ends in ERROR with a fault; --wait fails with it', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false, buildTimeoutMs: 3000 })
  const p = `/v1.0/${lab.demo.project}`

  const created = await lab.req('POST', `${p}/instances`, { body: body('will-fail') })
  t.equal(created.status, 200)
  t.equal(created.body.instance.status, 'BUILD')
  t.equal(created.body.instance.operating_status, '')
  const id = created.body.instance.id
  const agent = await scriptedAgent(lab.dataDir, id)
  t.teardown(() => agent.close())
  t.equal(agent.boot.flavor.ramMb, 512, 'the bootstrap carries the flavor')
  t.equal(agent.boot.port, 5432, 'the standard port')
  t.ok(process.env.TROVE_TEMPLATES_DIR, 'the test labs share a template dir (helpers/lab.ts)')
  t.equal(agent.boot.templateDir, process.env.TROVE_TEMPLATES_DIR, 'the agent uses the dir TROVE_TEMPLATES_DIR names')
  t.notOk(existsSync(join(lab.dataDir, 'templates')), 'and the lab has none of its own')

  const waiting = runMain(['instance', 'create', 'x', '--flavor', '1', '--size', '1', '--datastore', 'postgresql'], lab.env) // another instance, left to time out
  await agent.heartbeat('BUILDING')
  await agent.heartbeat('FAILED', 'initdb: error: could not create directory: No space left on device')
  await until(async () => (await lab.req('GET', `${p}/instances/${id}`)).body.instance.status === 'ERROR', 5000, 'ERROR')
  const shown = await lab.req('GET', `${p}/instances/${id}`)
  t.equal(shown.body.instance.status, 'ERROR')
  t.equal(shown.body.instance.fault.message, 'initdb: error: could not create directory: No space left on device')
  t.equal(shown.body.instance.fault.details, null, 'no details for members')

  const w = await runMain(['instance', 'show', id, '-f', 'value', '-c', 'fault'], lab.env)
  t.equal(w.stdout.trim(), 'initdb: error: could not create directory: No space left on device')

  // The create's answer first: only then is 'x' sure to be listed.
  t.equal((await waiting).code, 0)
  const other = JSON.parse((await runMain(['instance', 'list', '-f', 'json'], lab.env)).stdout).find((i: Record<string, string>) => i.Name === 'x')
  let status = ''
  await until(async () => (status = (await lab.req('GET', `${p}/instances/${other.ID}`)).body.instance.status) === 'ERROR', 6000, 'ERROR after the build timeout')
  t.equal(status, 'ERROR', 'no heartbeat: ERROR after the build timeout')
  t.match((await lab.req('GET', `${p}/instances/${other.ID}`)).body.instance.fault.message, /did not report the database as healthy within 3 s/)

  const delErr = await runMain(['instance', 'delete', id, other.ID, '--wait', '--timeout', '30'], lab.env)
  t.equal(delErr.code, 0, `instances in ERROR can be deleted (${delErr.stderr})`)
  t.same(JSON.parse((await runMain(['instance', 'list', '-f', 'json'], lab.env)).stdout), [])
})

t.test('--wait reports the fault and exits 1 when the build fails', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false })
  const run = runMain(['instance', 'create', 'doomed', '--flavor', '1', '--size', '1', '--datastore', 'postgresql', '--wait', '-f', 'json'], lab.env)
  let id: string | undefined
  await until(() => !!(id = lab.server.lab.instances.listAll()[0]?.id), 2500, 'the instance row')
  const agent = await scriptedAgent(lab.dataDir, id!)
  t.teardown(() => agent.close())
  await agent.heartbeat('FAILED', "mariadbd: Can't create/write to file")
  const r = await run
  t.equal(r.code, 1)
  t.equal(r.stdout, '', 'nothing on stdout')
  t.match(r.stderr, /instance doomed \([0-9a-f-]+\) is ERROR: mariadbd: Can't create\/write to file\n$/)
})

t.test('a build survives a server restart: the task resumes and the instance becomes ACTIVE', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false })
  const p = `/v1.0/${lab.demo.project}`
  const id = (await lab.req('POST', `${p}/instances`, { body: body('across') })).body.instance.id
  await lab.server.close()

  const again = await buildServer({ dataDir: lab.dataDir, host: '127.0.0.1', port: 0, spawnAgents: false, log: () => {} })
  await again.start()
  t.teardown(() => again.close())
  const agent = await scriptedAgent(lab.dataDir, id)
  t.teardown(() => agent.close())
  await agent.heartbeat('HEALTHY')
  await until(() => again.lab.instances.get(id)?.server_status === 'ACTIVE', 2000, 'ACTIVE after the restart')
  t.equal(again.lab.instances.get(id)?.server_status, 'ACTIVE', 'resumed after the restart')
  const task = again.lab.db.prepare("SELECT state, step FROM tasks WHERE instance_id = ? AND kind = 'create_instance'").get(id)
  t.same(task, { state: 'done', step: 'wait' })
})

t.test('no delete while building; the usage an agent sends with HEALTHY answers the view right after it', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false })
  const p = `/v1.0/${lab.demo.project}`
  const create = async (name: string) => {
    const id = (await lab.req('POST', `${p}/instances`, { body: body(name) })).body.instance.id as string
    const agent = await scriptedAgent(lab.dataDir, id, { answerStats: false })
    t.teardown(() => agent.close())
    return { id, agent }
  }
  // The long poll wakes at the heartbeat that makes it ACTIVE: its view is the one a --wait prints.
  const { id, agent } = await create('pushed-usage')
  // Before any heartbeat it builds (this lab's build timeout is the default: no deadline to race).
  const del = await lab.req('DELETE', `${p}/instances/${id}`)
  t.equal(del.status, 422, 'no delete while building (upstream)')
  t.match(del.body.unprocessableEntity.message, /is not ready/)
  const refused = await runMain(['instance', 'delete', 'pushed-usage'], lab.env)
  t.equal(refused.code, 1, 'deleting while it still builds is refused')
  t.match(refused.stdout, /is not ready\. \(Status is BUILD\)\. \(HTTP 422\)/)
  const poll = lab.req('GET', `${p}/instances/${id}?wait_for_change=BUILD&wait_timeout=25`)
  await until(() => lab.server.lab.instances.changes.waiting === 1, 5000, 'the poll waiting')
  await agent.heartbeat('HEALTHY', undefined, { volume: { used: 0.37, total: 1, free: 676_457_349 } })
  const view = await poll
  t.equal(view.body.instance.status, 'ACTIVE')
  t.same(view.body.instance.volume, { size: 1, used: 0.37, used_percent: 37 }, 'the usage the heartbeat carried')

  // An agent's word is checked: numbers that are not finite and non-negative are not kept
  // (the view would ask a running agent instead; a scripted one is not asked).
  for (const [i, bad] of [{ used: -1, total: 1, free: 1 }, { used: 'x', total: 1, free: 1 }, { used: 1, total: 1 }, null, 'lots'].entries()) {
    const other = await create(`bad-usage-${i}`)
    const poll = lab.req('GET', `${p}/instances/${other.id}?wait_for_change=BUILD&wait_timeout=25`)
    await until(() => lab.server.lab.instances.changes.waiting === 1, 5000, 'the poll waiting')
    await other.agent.heartbeat('HEALTHY', undefined, { volume: bad })
    const v = await poll
    t.equal(v.body.instance.status, 'ACTIVE', `usage ${JSON.stringify(bad)}: the heartbeat still counts`)
    t.notOk('used' in v.body.instance.volume, `usage ${JSON.stringify(bad)}: not shown`)
  }
})
