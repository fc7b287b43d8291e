// The guest agent against real engines and a real (in-process aedes) broker.
import t from 'tap'
import { Aedes } from 'aedes'
import { spawn, spawnSync } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import tls from 'node:tls'
import { join } from 'node:path'
import mqtt from 'mqtt'
import { ALL_AGENT_EVENTS, ALL_AGENT_REPLIES, agentRpcTopic, decode, encode, type AgentEvent, type EngineManager, type RpcReply, type RpcRequest } from '../../src/protocol/index.js'
import { startAgent, type AgentHandle } from '../../src/agent/index.js'
import { startAgentHarness, type Instance, requireAgentHost } from '../helpers/agent-harness.js'
import { TS_LOADER } from '../helpers/ts-loader.js'

requireAgentHost(t)

const ENGINES: Array<{ manager: EngineManager; version: string; binDir?: string; bin: string }> = [
  { manager: 'mariadb', version: '10.11', bin: '/usr/sbin/mariadbd' },
  { manager: 'postgresql', version: '15', binDir: '/usr/lib/postgresql/15/bin', bin: '/usr/lib/postgresql/15/bin/postgres' },
  { manager: 'redis', version: '7.0', bin: '/usr/bin/redis-server' },
]

const { root, pki, heartbeats, gone, call, heartbeat, count, waitFor, endpoint, makeInstance, killEngines, alive } = await startAgentHarness(t)

/** The engine's own client answers (over its unix socket). */
function clientAnswers(inst: Instance): boolean {
  const b = inst.bootstrap
  const run = join(inst.base, 'run')
  switch (b.datastore.manager) {
    case 'mariadb': {
      const r = spawnSync('mariadb', [`--defaults-file=${join(inst.base, 'conf/my.cnf')}`, '-uroot', '-N', '-e', 'select 1'], { encoding: 'utf8' })
      return r.status === 0 && r.stdout.trim() === '1'
    }
    case 'postgresql':
      return (
        spawnSync(join(b.datastore.binDir!, 'pg_isready'), ['-q', '-h', b.address, '-p', String(b.port), '-U', 'postgres', '-d', 'postgres']).status === 0 &&
        spawnSync(join(b.datastore.binDir!, 'pg_isready'), ['-q', '-h', run, '-p', String(b.port), '-U', 'postgres', '-d', 'postgres']).status === 0
      )
    case 'redis': {
      const pw = readFileSync(join(inst.base, 'conf/admin.secret'), 'utf8').trim()
      const r = spawnSync('redis-cli', ['-s', join(run, 'redis.sock'), 'ping'], { encoding: 'utf8', env: { ...process.env, REDISCLI_AUTH: pw } })
      return r.stdout.trim() === 'PONG'
    }
    default:
      return false
  }
}

const figures: string[] = []
t.teardown(() => {
  if (figures.length) t.comment(figures.join('\n'))
})

// ---- one full life cycle per engine ----
for (const e of ENGINES) {
  t.test(e.manager, async (t) => {
    const inst = makeInstance(e.manager, e.version, await endpoint(e.manager), { binDir: e.binDir })
    const lines: string[] = []
    const agents: AgentHandle[] = []
    const start = async (): Promise<AgentHandle> => {
      const a = await startAgent(inst.config, { log: (l) => lines.push(l) })
      agents.push(a)
      return a
    }
    t.teardown(async () => {
      for (const a of agents) await a.close()
      killEngines(inst.base)
      if (t.passing() === false || process.env.AGENT_TEST_VERBOSE) t.comment(lines.join('\n'))
    })

    const t0 = Date.now()
    let agent = await start()
    // No BUILDING heartbeat is waited for: the agent connects to the broker once the engine is starting
    // (supervisor.quiet), and an engine that answers first (Redis, in 0.1 s) is reported HEALTHY at once.
    const healthy = await heartbeat(inst.id, 'HEALTHY', 0, (h) => h.enginePid !== undefined)
    figures.push(
      `${e.manager}: create -> HEALTHY heartbeat ${healthy.at - t0} ms; agent log: ${lines
        .filter((l) => /initialised|answered|done in/.test(l))
        .map((l) => l.slice(25))
        .join('; ')}`,
    )
    t.ok(existsSync(join(inst.base, 'prepare.done')), 'prepare.done written')
    t.equal(readFileSync(join(inst.base, 'agent.pid'), 'utf8').trim(), String(process.pid), 'agent.pid written')
    t.ok(clientAnswers(inst), `${e.manager}'s own client gets an answer`)
    const enginePid = healthy.enginePid!
    t.ok(alive(enginePid), 'engine pid alive')
    t.ok(
      lines.every((l) => !l.includes(inst.bootstrap.mqtt.password + '"')),
      'no secrets in the log',
    )

    const ping = await call(inst.id, 'rpc_ping')
    t.same([ping.ok, ping.result], [true, true], 'rpc_ping')
    const stats = await call(inst.id, 'get_filesystem_stats')
    t.equal(stats.ok, true, 'get_filesystem_stats ok')
    const fs = stats.result as { used: number; total: number; free: number }
    t.ok(fs.used > 0 && fs.used < 1, `used ${fs.used} GB`)
    t.equal(fs.total, 2)
    t.ok(fs.free > 1024 ** 3 && fs.free < 2 * 1024 ** 3, 'free bytes')
    const unknown = await call(inst.id, 'no_such_method')
    t.equal(unknown.ok, false)
    t.equal(unknown.error?.type, 'NotSupported')

    // kill -9: CRASHED at once, then restarted and HEALTHY again
    let mark = count(inst.id)
    const killedAt = Date.now()
    process.kill(enginePid, 'SIGKILL')
    const crashed = await heartbeat(inst.id, 'CRASHED', mark)
    t.ok(crashed.at - killedAt < 500, `CRASHED reported ${crashed.at - killedAt} ms after kill -9`)
    const back = await heartbeat(inst.id, 'HEALTHY', mark, (h) => h.enginePid !== undefined && h.enginePid !== enginePid)
    t.ok(alive(back.enginePid!), `restarted as pid ${back.enginePid}`)
    t.ok(clientAnswers(inst), 'answers after the restart')

    // stop_db keeps it stopped; restart brings it back
    mark = count(inst.id)
    t.equal((await call(inst.id, 'stop_db')).ok, true, 'stop_db')
    t.notOk(alive(back.enginePid!), 'engine stopped')
    const shutdown = await heartbeat(inst.id, 'SHUTDOWN', mark)
    // A periodic HEALTHY may have left just before stop_db ran; what counts is after SHUTDOWN:
    // it and the next periodic heartbeat.
    const since = () => heartbeats.get(inst.id)!.slice(heartbeats.get(inst.id)!.indexOf(shutdown))
    await waitFor('a periodic heartbeat after SHUTDOWN', () => since().length >= 2 || undefined)
    const after = since()
    t.ok(after.length >= 2 && after.every((h) => h.status === 'SHUTDOWN' && h.enginePid === undefined), 'stays stopped')
    mark = count(inst.id)
    t.equal((await call(inst.id, 'restart')).ok, true, 'restart')
    const restarted = await heartbeat(inst.id, 'HEALTHY', mark)

    // close the agent: the engine keeps running, and a new agent re-adopts the same pid
    await agent.close()
    t.equal(await agent.done, 0, 'closed agent ends with 0')
    t.notOk(existsSync(join(inst.base, 'agent.pid')), 'agent.pid removed')
    t.ok(alive(restarted.enginePid!), 'engine still running without its agent')
    mark = count(inst.id)
    const logMark = lines.length
    const t1 = Date.now()
    agent = await start()
    const adopted = await heartbeat(inst.id, 'HEALTHY', mark)
    t.equal(adopted.enginePid, restarted.enginePid, `re-adopted pid ${adopted.enginePid} (${adopted.at - t1} ms)`)
    t.notOk(
      lines.slice(logMark).some((l) => l.includes('started ')),
      'no new engine started',
    )
    t.equal(heartbeats.get(inst.id)![mark]!.status, 'HEALTHY', 'the new agent reports HEALTHY first')

    // a repeated request id is answered from the cache, not run again
    const reqId = randomUUID()
    const first = await call(inst.id, 'restart', {}, reqId)
    t.equal(first.ok, true, 'restart by id')
    mark = count(inst.id)
    const again = await call(inst.id, 'restart', {}, reqId)
    t.same(again, first, 'same reply for the same id')
    // Up to the next periodic heartbeat: a restart run again would have reported its states by then.
    const replied = count(inst.id)
    await waitFor('a heartbeat after the repeated call', () => count(inst.id) > replied || undefined)
    t.notOk(
      heartbeats
        .get(inst.id)!
        .slice(mark)
        .some((h) => h.status !== 'HEALTHY'),
      'not restarted twice',
    )

    // shutdown_agent: engine stopped, agent ends with 0
    const last = heartbeats.get(inst.id)!.at(-1)!.enginePid!
    const bye = await call(inst.id, 'shutdown_agent')
    t.equal(bye.ok, true, 'shutdown_agent ok')
    t.equal(await agent.done, 0, 'agent done with 0')
    t.notOk(alive(last), 'engine gone')
  })
}

// ---- failures and the process boundary (Redis: the fastest engine) ----
for (const e of ENGINES) {
  t.test(`${e.manager}: a prepare failure is reported as FAILED with the engine's own reason`, async (t) => {
    const at = await endpoint(e.manager)
    const busy = net.createServer()
    await new Promise<void>((r) => busy.listen(at.port, at.address, r))
    const inst = makeInstance(e.manager, e.version, at, { binDir: e.binDir })
    const lines: string[] = []
    const agent = await startAgent(inst.config, { log: (l) => lines.push(l) })
    t.teardown(async () => {
      await agent.close()
      killEngines(inst.base)
      busy.close()
      if (t.passing() === false || process.env.AGENT_TEST_VERBOSE) t.comment(lines.join('\n'))
    })
    const failed = await heartbeat(inst.id, 'FAILED')
    t.match(failed.fault, /Address already in use|could not create any TCP\/IP sockets|Failed listening/, `fault: ${failed.fault}`)
    t.notOk(existsSync(join(inst.base, 'prepare.done')), 'not marked prepared')
    const ping = await call(inst.id, 'rpc_ping')
    t.equal(ping.result, true, 'the agent keeps running and answers')
    const stop = await call(inst.id, 'stop_db')
    t.same([stop.ok, stop.error?.type], [false, 'GuestError'], 'stop_db refused while not prepared')
    t.notMatch(stop.error?.message ?? '', /\n| {4}at /, 'no stack trace')
    // The port is free again: the prepare RPC retries from scratch.
    busy.close()
    const mark = count(inst.id)
    t.equal((await call(inst.id, 'prepare')).ok, true, 'prepare again')
    await heartbeat(inst.id, 'HEALTHY', mark)
    t.ok(existsSync(join(inst.base, 'prepare.done')), 'prepared now')
  })
}

t.test('a socket path over 107 bytes fails prepare with a clear message', async (t) => {
  const deep = join(root, 'x'.repeat(90))
  mkdirSync(deep, { mode: 0o711 })
  const inst = makeInstance('redis', '7.0', await endpoint('redis'), { parent: deep })
  const agent = await startAgent(inst.config, { log: () => {} })
  t.teardown(() => agent.close())
  const failed = await heartbeat(inst.id, 'FAILED')
  t.match(failed.fault, /^socket path too long \(\d+ bytes, max 107\)/, `fault: ${failed.fault}`)
})

t.test('the engine joins the listed cgroups before it runs', async (t) => {
  const self = /^\d+:memory:(.*)$/m.exec(readFileSync('/proc/self/cgroup', 'utf8'))?.[1]
  if (self === undefined || !existsSync('/sys/fs/cgroup/memory') || !existsSync('/sys/fs/cgroup/pids')) {
    t.pass('skipped: no cgroup v1 memory/pids hierarchy')
    return
  }
  const name = `trove-test-${process.pid}`
  const dirs = [join('/sys/fs/cgroup/memory', self, name), join('/sys/fs/cgroup/pids', name)]
  for (const d of dirs) mkdirSync(d)
  const inst = makeInstance('redis', '7.0', await endpoint('redis'), { cgroups: [...dirs, '/sys/fs/cgroup/pids/no-such-group'] })
  const agent = await startAgent(inst.config, { log: () => {} })
  t.teardown(async () => {
    await agent.close()
    killEngines(inst.base)
    // A cgroup can be removed once its last process has exited.
    await waitFor('the cgroups empty', () => dirs.every((d) => readFileSync(join(d, 'cgroup.procs'), 'utf8').trim() === '') || undefined)
    for (const d of dirs) rmdirSync(d)
  })
  const healthy = await heartbeat(inst.id, 'HEALTHY')
  const cg = readFileSync(`/proc/${healthy.enginePid}/cgroup`, 'utf8')
  t.match(cg, new RegExp(`:memory:${join(self, name)}$`, 'm'), 'in the memory cgroup')
  t.match(cg, new RegExp(`:pids:/${name}$`, 'm'), 'in the pids cgroup')
  t.equal(Number(readFileSync(join(dirs[0]!, 'memory.usage_in_bytes'), 'utf8')) > 0, true, 'memory charged to it')
})

t.test('the agent as a child process: SIGTERM keeps the engine, a crash sends the last will', async (t) => {
  const inst = makeInstance('redis', '7.0', await endpoint('redis'))
  const children: Array<ReturnType<typeof spawn>> = []
  const logs: string[] = []
  const run = (): { child: ReturnType<typeof spawn>; exit: Promise<number | null> } => {
    const child = spawn(process.execPath, ['--import', TS_LOADER, 'test/agent/fixtures/run-agent.ts', '--config', inst.config], {
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    children.push(child)
    child.stderr!.on('data', (b: Buffer) => logs.push(b.toString().trim()))
    const exit = new Promise<number | null>((r) => child.once('exit', (code) => r(code)))
    return { child, exit }
  }
  t.teardown(() => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
    killEngines(inst.base)
    if (t.passing() === false || process.env.AGENT_TEST_VERBOSE) t.comment(logs.join('\n'))
  })

  const a = run()
  const first = await heartbeat(inst.id, 'HEALTHY', 0, (h) => h.agentPid === a.child.pid)
  t.equal(readFileSync(join(inst.base, 'agent.pid'), 'utf8').trim(), String(a.child.pid), 'agent.pid is the agent')
  const dup = run()
  t.equal(await dup.exit, 1, 'a second agent for the same instance refuses to start')
  t.match(logs.join('\n'), /another agent \(pid \d+\) is running for this instance/)
  t.equal(readFileSync(join(inst.base, 'agent.pid'), 'utf8').trim(), String(a.child.pid), 'agent.pid untouched')
  a.child.kill('SIGTERM')
  t.equal(await a.exit, 0, 'SIGTERM: exit code 0')
  t.ok(alive(first.enginePid!), 'the engine keeps running')
  t.equal(gone.get(inst.id) ?? 0, 0, 'no last will on a clean exit')

  const b = run()
  const adopted = await heartbeat(inst.id, 'HEALTHY', 0, (h) => h.agentPid === b.child.pid)
  t.equal(adopted.enginePid, first.enginePid, 'the next agent re-adopts the engine')
  b.child.kill('SIGKILL')
  await waitFor('last will', () => gone.get(inst.id))
  t.pass('kill -9 of the agent publishes its last will')

  const c = run()
  await heartbeat(inst.id, 'HEALTHY', 0, (h) => h.agentPid === c.child.pid && h.enginePid === first.enginePid)
  t.equal((await call(inst.id, 'shutdown_agent')).ok, true, 'shutdown_agent')
  t.equal(await c.exit, 0, 'exit code 0')
  t.notOk(alive(first.enginePid!), 'engine stopped')
  t.notOk(existsSync(join(inst.base, 'agent.pid')), 'agent.pid removed')
})

t.test('the agent follows the broker to another port (broker file re-read at each attempt)', async (t) => {
  const own = join(root, 'broker-moving.json')
  const start = async () => {
    const b = await Aedes.createBroker()
    const s = tls.createServer({ key: pki.key, cert: pki.cert }, b.handle)
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
    const port = (s.address() as net.AddressInfo).port
    const watcher = await mqtt.connectAsync({ host: '127.0.0.1', port, protocol: 'mqtts', ca: pki.ca, clientId: `watch-${port}` })
    const events: AgentEvent[] = []
    const replies: RpcReply[] = []
    watcher.on('message', (topic, payload) => (topic.endsWith('/event') ? events : replies).push(decode(payload)!))
    await watcher.subscribeAsync([ALL_AGENT_EVENTS, ALL_AGENT_REPLIES], { qos: 1 })
    const stop = async (): Promise<void> => {
      await watcher.endAsync(true)
      await new Promise<void>((r) => b.close(() => r()))
      s.close()
    }
    return { port, events, replies, watcher, stop }
  }
  const first = await start()
  writeFileSync(own, JSON.stringify({ host: '127.0.0.1', port: first.port }))
  const inst = makeInstance('redis', '7.0', await endpoint('redis'), { brokerFile: own })
  const lines: string[] = []
  const agent = await startAgent(inst.config, { log: (l) => lines.push(l) })
  let second: Awaited<ReturnType<typeof start>> | undefined
  t.teardown(async () => {
    await agent.close()
    killEngines(inst.base)
    await second?.stop()
  })
  await waitFor('HEALTHY on the first broker', () => first.events.some((e) => e.kind === 'heartbeat' && e.status === 'HEALTHY'))
  await first.stop()
  second = await start()
  writeFileSync(own, JSON.stringify({ host: '127.0.0.1', port: second.port }))
  await waitFor('a heartbeat on the second broker', () => second!.events.some((e) => e.kind === 'heartbeat' && e.status === 'HEALTHY'), 10_000)
  // The new broker has no session for the agent: it must have subscribed again.
  const req: RpcRequest = { id: randomUUID(), method: 'rpc_ping', args: {}, sent: Date.now(), reply: true }
  await second.watcher.publishAsync(agentRpcTopic(inst.id), encode(req), { qos: 1 })
  const reply = await waitFor('the reply via the second broker', () => second!.replies.find((r) => r.id === req.id))
  t.same([reply.ok, reply.result], [true, true], 'rpc over the new broker')
  t.ok(
    lines.some((l) => l.includes('broker connection lost')),
    'logged the loss once',
  )
  t.equal(lines.filter((l) => l.includes('connected to the broker')).length, 2, 'connected twice')
})
