// Agents authenticate the broker (TLS, the lab's CA pinned in their bootstrap) before they
// send their secret, and labs from before TLS keep working after an upgrade.
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import tls from 'node:tls'
import { join } from 'node:path'
import { startAgent } from '../../src/agent/index.js'
import { ensureBrokerTls } from '../../src/server/broker/tls.js'
import type { AgentBootstrap } from '../../src/protocol/index.js'
import { startAgentHarness } from '../helpers/agent-harness.js'
import { labEnv, runMain, tempDir, buildServer } from '../helpers/lab.js'
import { until } from '../helpers/scripted-agent.js'
import { guestDir, guestPid } from '../helpers/guest.js'

t.test('impostor broker: an agent sends its password to no one but a broker with the pinned CA', async (t) => {
  const { root, brokerFile, count, endpoint, makeInstance } = await startAgentHarness(t)
  // Whoever binds a port while the server is down: a plain listener, and a TLS one with a CA of its own.
  const other = ensureBrokerTls(join(root, 'impostor-tls'), ['127.0.0.1'])
  const seen = { plain: [] as Buffer[], plainConnections: 0, tls: [] as Buffer[], tlsAttempts: 0 }
  const plain = net.createServer((s) => {
    seen.plainConnections++
    s.on('data', (d) => {
      seen.plain.push(d)
      s.destroy()
    })
    s.on('error', () => {})
  })
  const fake = tls.createServer({ key: other.key, cert: other.cert }, (s) => {
    s.on('data', (d) => seen.tls.push(d))
    s.on('error', () => {})
  })
  fake.on('connection', () => seen.tlsAttempts++)
  fake.on('tlsClientError', () => {})
  for (const s of [plain, fake]) await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  t.teardown(() => {
    plain.close()
    fake.close()
  })

  const own = join(root, 'broker-impostor.json')
  const at = (s: net.Server) => writeFileSync(own, JSON.stringify({ host: '127.0.0.1', port: (s.address() as net.AddressInfo).port }))
  at(plain)
  const inst = makeInstance('redis', '7.0', await endpoint('redis'), { brokerFile: own })
  // A long secret to look for, and no engine to start (prepare fails fast; the agent still dials).
  const password = randomBytes(32).toString('base64url')
  const boot = JSON.parse(readFileSync(inst.config, 'utf8')) as AgentBootstrap
  writeFileSync(inst.config, JSON.stringify({ ...boot, runUser: 'no-such-user-here', mqtt: { ...boot.mqtt, password } }), { mode: 0o600 })
  const lines: string[] = []
  const agent = await startAgent(inst.config, { log: (l) => lines.push(l) })
  t.teardown(() => agent.close())

  await until(() => seen.plainConnections >= 3, 15_000, 'three attempts on the plain impostor')
  const plainBytes = Buffer.concat(seen.plain)
  t.notOk(plainBytes.includes(password), 'the plain impostor never gets the password')
  t.ok(
    seen.plain.every((d) => d[0] === 0x16),
    'it gets TLS handshakes only (no MQTT CONNECT)',
  )

  at(fake)
  await until(() => seen.tlsAttempts >= 3, 15_000, 'three attempts on the TLS impostor')
  t.same(seen.tls, [], 'the TLS impostor (another CA) gets no application data at all')
  t.ok(
    lines.some((l) => /certificate/.test(l)),
    'the agent logs the certificate failure',
  )
  t.notOk(lines.join('\n').includes(password), 'no secret in the agent log')

  // The control: the real broker (the pinned CA) gets the agent at once.
  writeFileSync(own, readFileSync(brokerFile))
  await until(() => count(inst.id) > 0, 15_000, 'a heartbeat through the real broker')
  t.pass('the agent connects to the broker whose certificate comes from the pinned CA')
})

t.test('upgrade: a bootstrap without the broker CA gets it at the next server start, and its agent is restarted onto TLS', async (t) => {
  const dir = tempDir(t)
  const dataDir = join(dir, 'lab')
  const logs: string[] = []
  const start = async () => {
    const server = await buildServer({ dataDir, host: '127.0.0.1', port: 0, log: (m) => logs.push(m), rateLimits: [] })
    return { server, ...(await server.start()) }
  }
  const first = await start()
  let running: typeof first | undefined = first
  t.teardown(() => running?.server.close())
  const env = labEnv(first.cloudsFile)
  const created = await runMain(['instance', 'create', 'old', '--flavor', '1', '--size', '1', '--datastore', 'redis', '--wait', '--timeout', '60', '-f', 'value', '-c', 'id'], env)
  t.equal(created.code, 0, created.stderr)
  const id = created.stdout.trim()
  const bootFile = join(guestDir(dataDir, id), 'agent.json')
  const ca = readFileSync(join(dataDir, 'tls', 'ca.crt'), 'utf8')
  t.equal((JSON.parse(readFileSync(bootFile, 'utf8')) as AgentBootstrap).mqtt.ca, ca, 'a new bootstrap pins the CA')

  await first.server.close()
  running = undefined
  // What a lab made before TLS has: a bootstrap with no CA (its agent, of the old code, speaks plain MQTT).
  const boot = JSON.parse(readFileSync(bootFile, 'utf8')) as AgentBootstrap
  delete boot.mqtt.ca
  writeFileSync(bootFile, JSON.stringify(boot), { mode: 0o600 })
  const oldPid = guestPid(dataDir, id, 'agent.pid')

  const second = await start()
  running = second
  t.equal((JSON.parse(readFileSync(bootFile, 'utf8')) as AgentBootstrap).mqtt.ca, ca, 'the bootstrap now pins the same CA')
  t.ok(
    logs.some((l) => l.includes(`instance ${id}: broker CA pinned in the bootstrap, restarting its agent`)),
    'logged',
  )
  await until(
    () => {
      // agent.pid is absent between the old agent's exit and the new one's start.
      const pid = guestPid(dataDir, id, 'agent.pid') ?? 0
      return pid > 0 && pid !== oldPid
    },
    20_000,
    'a new agent',
  )
  // A call sent before the new agent subscribed is lost (a new broker holds no session for it): ask until it answers.
  await until(
    () =>
      second.server.lab.rpc.call(id, 'rpc_ping', {}, 2000).then(
        () => true,
        () => false,
      ),
    30_000,
    'an answer from the restarted agent',
  )
  t.pass('the restarted agent answers over TLS')
  t.equal(logs.filter((l) => l.includes(`instance ${id}: agent not running`)).length, 0, 'started once, not again by the start-up sweep')
  const shown = await runMain(['instance', 'show', id, '-f', 'value', '-c', 'status'], env)
  t.equal(shown.stdout.trim(), 'ACTIVE', 'the instance is ACTIVE')
  const deleted = await runMain(['instance', 'delete', id, '--wait', '--timeout', '60'], env)
  t.equal(deleted.code, 0, deleted.stderr)
})
