// Fault injection (issue 6), part 3 of 4: agents and engines are SIGKILLed and come back; the
// server is SIGKILLed while instances serve traffic.
import t from 'tap'
import { join } from 'node:path'
import { isAlive } from '../../src/server/compute/processes.js'
import { instanceDirs } from '../helpers/guest.js'
import { tempDir } from '../helpers/lab.js'
import { LONG, agentPid, clientOf, enginePid, needsRedis, redisCli, sleep, startServer, until } from '../helpers/chaos.js'

t.test('chaos: killed agents and engines come back; the server killed under traffic', needsRedis, async (t) => {
  const dir = tempDir(t, 'ty')
  const dataDir = join(dir, 'lab')
  // Reconciliation every second (default 10 s): a killed agent is started again by the next pass,
  // so the default period would only add idle time to the wait below.
  const fast = { TROVE_RECONCILE_MS: '1000' }
  let server = await startServer(t, dataDir, fast)
  const c = () => clientOf(dataDir)
  const names = LONG ? ['ka', 'kb', 'kc'] : ['ka', 'kb']
  const ids = await Promise.all(
    names.map(async (name) => {
      const inst = await c().instances.create({ name, flavorRef: '1', volume: { size: 1 }, datastore: { type: 'redis' } })
      await until(async () => (await c().instances.get(inst.id)).status === 'ACTIVE', 90_000, `${name} ACTIVE`)
      return inst.id
    }),
  )
  const [a, b] = ids as [string, string]

  // A killed agent: started again by the server's reconciliation, re-adopting its running engine.
  for (let i = 0; i < (LONG ? 3 : 1); i++) {
    const engine = enginePid(dataDir, a)!
    const agent = agentPid(dataDir, a)!
    process.kill(agent, 'SIGKILL')
    const ms = await until(
      () => {
        const p = agentPid(dataDir, a)
        return p !== undefined && p !== agent && isAlive(p)
      },
      180_000,
      'a new agent',
    )
    await until(async () => (await c().instances.get(a)).operating_status === 'HEALTHY', 180_000, 'HEALTHY')
    t.pass(`killed agent back in ${ms} ms (the figure is bench/recovery.mjs's; this bound only ends a hang)`)
    t.equal(enginePid(dataDir, a), engine, 'the new agent adopted the running engine (same pid)')
    t.ok(isAlive(engine))
    t.comment(`recovery: killed agent -> new agent ${ms} ms`)
  }

  // A killed engine: restarted by its agent, with the data it had saved.
  t.equal(redisCli(dataDir, b, 'SET', 'chaos:engine', 'kept'), 'OK')
  t.equal(redisCli(dataDir, b, 'SAVE'), 'OK')
  for (let i = 0; i < (LONG ? 3 : 1); i++) {
    const engine = enginePid(dataDir, b)!
    const killed = Date.now()
    process.kill(engine, 'SIGKILL')
    await until(
      () => {
        const p = enginePid(dataDir, b)
        return p !== undefined && p !== engine && redisCli(dataDir, b, 'PING') === 'PONG'
      },
      180_000,
      'the engine back',
    )
    const ms = Date.now() - killed
    t.equal(redisCli(dataDir, b, 'GET', 'chaos:engine'), 'kept', `killed engine back in ${ms} ms with its data`)
    await until(async () => (await c().instances.get(b)).operating_status === 'HEALTHY', 180_000, 'HEALTHY again')
    t.comment(`recovery: killed engine -> answering ${ms} ms`)
    if (LONG) await sleep(1000)
  }

  // The server killed while clients use the databases: traffic does not notice; every instance comes
  // back ACTIVE. How fast is a figure, measured by bench/recovery.mjs (BENCHMARKS.md), not asserted
  // here: the deadline below only ends a hang, so a busy machine cannot fail the test.
  let ops = 0
  let failures = 0
  let stop = false
  const traffic = (async () => {
    for (let n = 0; !stop; n++) {
      for (const id of ids) {
        const r = redisCli(dataDir, id, 'SET', `traffic:${n}`, String(n))
        if (r === 'OK') ops++
        else failures++
      }
      await sleep(20)
    }
  })()
  // Traffic flows before the kill, and goes on while no server runs.
  const flowing = (what: string) => {
    const from = ops + failures
    return until(() => ops + failures >= from + 5 * ids.length, 60_000, what)
  }
  await flowing('traffic before the kill')
  server.child.kill('SIGKILL')
  await server.exited
  await flowing('traffic while the server is down')
  const restarted = Date.now()
  server = await startServer(t, dataDir, fast)
  const ms = await until(async () => (await c().instances.page({ limit: 100 })).items.every((i) => i.status === 'ACTIVE' && i.operating_status === 'HEALTHY'), 180_000, 'all ACTIVE')
  const total = Date.now() - restarted
  await flowing('traffic after the restart')
  stop = true
  await traffic
  t.pass(`every instance ACTIVE and HEALTHY ${total} ms after the restart began (${ms} ms after it listened)`)
  t.equal(failures, 0, `no failed database operation across the server kill (${ops} done)`)
  t.comment(`recovery: server SIGKILL -> restart -> all ACTIVE ${total} ms`)

  for (const id of ids) await c().instances.delete(id)
  await until(async () => (await c().instances.page({ limit: 100 })).items.length === 0, 60_000, 'all deleted')
  t.same(instanceDirs(dataDir), [], 'no instance directory left')
  await server.child.kill('SIGTERM')
  await server.exited
})
