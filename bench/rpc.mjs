// Server -> agent RPC round trip (issue 7): lab.rpc.call(id, 'rpc_ping') from the server to the real
// agent of a real Redis instance, through the embedded MQTT broker, one call at a time (p50, p99), then
// 10 calls in flight (calls/s). The server runs in this process (buildServer, as `trove server` does),
// so the timings are the server's own; the agent is the real detached `trove agent`.
// Knobs: BENCH_RPC_CALLS (2000) sequential calls, BENCH_RPC_MS (3000) of 10-in-flight calls, BENCH_VERBOSE=1.
// Run with `npm run bench` (or `node bench/rpc.mjs` after a build).
import { join } from 'node:path'
import { machine, sleep, writeSection } from './lib.mjs'
import { fmtMs, pct, today, verbose, withRoot } from './harness.mjs'
import { buildServer } from '../dist/server/index.js'

const CALLS = Number(process.env.BENCH_RPC_CALLS ?? 2000)
const PARALLEL_MS = Number(process.env.BENCH_RPC_MS ?? 3000)

async function main() {
  await withRoot('tbr', async (root, onCleanup) => {
    const server = await buildServer({ dataDir: join(root, 'lab'), host: '127.0.0.1', port: 0, rateLimits: [], log: () => undefined })
    await server.start()
    onCleanup(() => server.close())
    const { lab } = server
    // A real Redis instance through the create flow (no HTTP needed: the bench is inside the server).
    const project = lab.db.prepare("SELECT id FROM projects WHERE name = 'demo'").pluck().get()
    const dsv = lab.db.prepare("SELECT id FROM datastore_versions WHERE manager = 'redis' AND active = 1 ORDER BY version DESC LIMIT 1").pluck().get()
    if (!dsv) throw new Error('no Redis datastore version on this machine')
    const id = crypto.randomUUID()
    const { address, port } = await lab.compute.reserve(id, 'redis', lab.instances.addressesInUse())
    lab.instances.create({
      id,
      name: 'bench-rpc',
      tenant_id: project,
      flavor_id: '1',
      volume_size: 1,
      volume_type: null,
      datastore_version_id: dsv,
      address,
      port,
      region_id: lab.config.region,
      access: null,
    })
    lab.tasks.submit('create_instance', id, { databases: [], users: [] })
    onCleanup(async () => {
      // The delete flow, as DELETE /instances/{id} runs it: agent shutdown, processes, cgroups, claim.
      lab.instances.setTask(id, 'DELETING')
      lab.tasks.submit('delete_instance', id)
      for (const end = Date.now() + 60_000; Date.now() < end && lab.instances.get(id); ) await sleep(100)
    })
    for (const end = Date.now() + 60_000; lab.instances.get(id)?.server_status !== 'ACTIVE'; await sleep(20)) {
      if (Date.now() > end || lab.instances.get(id)?.server_status === 'ERROR') throw new Error('the Redis instance did not go ACTIVE')
    }

    for (let i = 0; i < 200; i++) await lab.rpc.call(id, 'rpc_ping', {}, 5000) // warm-up
    const lat = []
    for (let i = 0; i < CALLS; i++) {
      const t0 = performance.now()
      await lab.rpc.call(id, 'rpc_ping', {}, 5000)
      lat.push(performance.now() - t0)
    }
    let parallel = 0
    const end = performance.now() + PARALLEL_MS
    const t0 = performance.now()
    await Promise.all(
      Array.from({ length: 10 }, async () => {
        while (performance.now() < end) {
          await lab.rpc.call(id, 'rpc_ping', {}, 5000)
          parallel++
        }
      }),
    )
    const rate = parallel / ((performance.now() - t0) / 1000)
    verbose(`rpc_ping: p50 ${pct(lat, 50).toFixed(3)} p99 ${pct(lat, 99).toFixed(3)} ms; ${rate.toFixed(0)} calls/s at 10 in flight`)

    const text = [
      `Command: \`npm run bench\` (bench/rpc.mjs), ${today()}, ${machine()}.`,
      '',
      '`rpc_ping` from the server (lab.rpc.call, QoS 1 through the embedded MQTT broker) to the real agent of an ACTIVE',
      `Redis instance, until the reply is matched: ${CALLS} calls one at a time after 200 warm-up calls, then 10 in flight for ${PARALLEL_MS / 1000} s.`,
      '',
      '| measure | value |',
      '|---|---|',
      `| round trip p50 | ${fmtMs(pct(lat, 50))} |`,
      `| round trip p99 | ${fmtMs(pct(lat, 99))} |`,
      `| round trip max | ${fmtMs(Math.max(...lat))} |`,
      `| calls/s, 10 in flight | ${rate.toFixed(0)} |`,
    ].join('\n')
    writeSection('rpc', 'Server -> agent RPC round trip', text)
    process.stdout.write(text + '\n')
  })
}

await main()
