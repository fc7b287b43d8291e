import t from 'tap'
import { until } from '../helpers/scripted-agent.js'
import { runAgent, startAgent } from '../../src/agent/index.js'

t.test('usage errors', async (t) => {
  const write = process.stderr.write
  const err: string[] = []
  process.stderr.write = ((s: string) => err.push(s) > 0) as typeof process.stderr.write
  t.teardown(() => void (process.stderr.write = write))
  t.equal(await runAgent([]), 2)
  t.equal(await runAgent(['--bogus']), 2)
  t.equal(await runAgent(['--config', '/nonexistent/agent.json']), 1)
  t.match(err.join(''), /missing --config[\s\S]*unknown argument: --bogus[\s\S]*cannot read \/nonexistent\/agent.json: ENOENT/)
})

t.test('a file that is not a bootstrap is refused', async (t) => {
  const dir = t.testdir({ 'agent.json': '{"instanceId":"x"}' })
  await t.rejects(startAgent(`${dir}/agent.json`), /is not an agent bootstrap \(missing datastore, brokerFile/)
})

t.test('with no broker and a bad run user: FAILED, and close() still ends it', async (t) => {
  const dir = t.testdir({})
  const bootstrap = {
    instanceId: 'i1',
    datastore: { manager: 'redis', version: '7.0' },
    brokerFile: `${dir}/no-broker.json`,
    mqtt: { username: 'agent-i1', password: 'secret-pw' },
    baseDir: dir,
    address: '127.0.0.1',
    port: 1,
    flavor: { ramMb: 256, vcpus: 1 },
    volumeSize: 1,
    runUser: 'no-such-user-here',
    serverId: 1,
    heartbeatMs: 100,
    prepare: { databases: [], users: [] },
  }
  const { writeFileSync, existsSync } = await import('node:fs')
  writeFileSync(`${dir}/agent.json`, JSON.stringify(bootstrap))
  const lines: string[] = []
  const agent = await startAgent(`${dir}/agent.json`, { log: (l) => lines.push(l) })
  t.equal(existsSync(`${dir}/agent.pid`), true)
  // Both failures are logged before close (a condition, not a delay: the machine may be busy).
  await until(() => /prepare failed/.test(lines.join('\n')) && /broker: ENOENT/.test(lines.join('\n')), 5000, 'the two failures logged')
  const t0 = Date.now()
  await agent.close()
  t.equal(await agent.done, 0)
  // A hang (a reconnect loop without end) shows as tens of seconds; a busy machine adds a few at most.
  t.ok(Date.now() - t0 < 30_000, 'close does not hang without a broker')
  t.equal(existsSync(`${dir}/agent.pid`), false, 'agent.pid removed')
  const log = lines.join('\n')
  t.match(log, /prepare failed: run user no-such-user-here does not exist/)
  t.match(log, /broker: ENOENT/)
  t.equal(log.match(/broker: ENOENT/g)?.length, 1, 'the same broker error is logged once')
  t.notMatch(log, /secret-pw/, 'no password in the log')
  t.ok(
    lines.every((l) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z /.test(l)),
    'ISO timestamps',
  )
})

t.test('a bootstrap that pins no broker CA: the agent does not dial the broker at all', async (t) => {
  const net = await import('node:net')
  const { writeFileSync } = await import('node:fs')
  let dialled = 0
  const listener = net.createServer((s) => {
    dialled++
    s.destroy()
  })
  await new Promise<void>((r) => listener.listen(0, '127.0.0.1', r))
  t.teardown(() => listener.close())
  const dir = t.testdir({})
  writeFileSync(`${dir}/broker.json`, JSON.stringify({ host: '127.0.0.1', port: (listener.address() as { port: number }).port }))
  writeFileSync(
    `${dir}/agent.json`,
    JSON.stringify({
      instanceId: 'i2',
      datastore: { manager: 'redis', version: '7.0' },
      brokerFile: `${dir}/broker.json`,
      mqtt: { username: 'agent-i2', password: 'secret-pw' },
      baseDir: dir,
      address: '127.0.0.1',
      port: 1,
      flavor: { ramMb: 256, vcpus: 1 },
      volumeSize: 1,
      runUser: 'no-such-user-here',
      serverId: 1,
      heartbeatMs: 100,
      prepare: { databases: [], users: [] },
    }),
  )
  const lines: string[] = []
  const agent = await startAgent(`${dir}/agent.json`, { log: (l) => lines.push(l) })
  t.teardown(() => agent.close())
  const deadline = Date.now() + 10_000
  while (!lines.some((l) => l.includes('the bootstrap pins no broker CA: not connecting')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
  t.ok(
    lines.some((l) => l.includes('the bootstrap pins no broker CA: not connecting')),
    'it says why',
    { lines },
  )
  t.equal(dialled, 0, 'no connection to the broker port')
})
