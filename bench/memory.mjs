// Memory (issue 7): `trove server` RSS idle, and the RSS of a real agent per engine (goal <= 60 MB) right
// after its instance went ACTIVE, after BENCH_MEM_SETTLE_MS of heartbeats, and after BENCH_MEM_RPCS guest
// calls (GET /instances/{id} asks the agent for its volume usage). The server with 50 instances is in
// the scale section (bench/scale.mjs). Knobs: BENCH_MEM_ENGINES (redis,mariadb,postgresql),
// BENCH_MEM_SETTLE_MS (20000), BENCH_MEM_RPCS (500), BENCH_VERBOSE=1.
// Run with `npm run bench` (or `node bench/memory.mjs` after a build).
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { machine, sleep, writeSection } from './lib.mjs'
import { apiClient, deleteAll, login, rssOf, startTroveServer, stopChild, today, unlimitedQuota, verbose, waitAll, withRoot } from './harness.mjs'

const ENGINES = (process.env.BENCH_MEM_ENGINES ?? 'redis,mariadb,postgresql').split(',').filter(Boolean)
const SETTLE_MS = Number(process.env.BENCH_MEM_SETTLE_MS ?? 20_000)
const RPCS = Number(process.env.BENCH_MEM_RPCS ?? 500)
const AGENT_GOAL = 60
const SERVER_GOAL = 150

async function main() {
  await withRoot('tbm', async (root, onCleanup) => {
    const dataDir = join(root, 'lab')
    const server = await startTroveServer(dataDir)
    onCleanup(() => stopChild(server.child))
    await sleep(2000)
    const serverIdle = rssOf(server.pid)
    const client = apiClient(server.url, await login(server.url, server.cloudsFile))
    await unlimitedQuota(server.url, server.cloudsFile, client.project)
    const ids = []
    onCleanup(() => deleteAll(client.api, ids))
    const rows = []
    for (const engine of ENGINES) {
      const r = await client.api('POST', '/instances', { instance: { name: `bench-mem-${engine}`, flavorRef: '1', volume: { size: 1 }, datastore: { type: engine } } })
      if (r.status !== 200) {
        verbose(`${engine}: ${r.status} ${JSON.stringify(r.body)}`)
        continue
      }
      const id = r.body.instance.id
      ids.push(id)
      await waitAll(client.api, [id])
      const pid = Number(readFileSync(join(dataDir, 'instances', id, 'agent.pid'), 'utf8'))
      await sleep(1500)
      const atActive = rssOf(pid)
      await sleep(SETTLE_MS)
      const settled = rssOf(pid)
      for (let i = 0; i < RPCS; i++) await client.api('GET', `/instances/${id}`)
      const afterRpc = rssOf(pid)
      verbose(`${engine} agent ${pid}: ${atActive.toFixed(1)} / ${settled.toFixed(1)} / ${afterRpc.toFixed(1)} MB`)
      const worst = Math.max(atActive, settled, afterRpc)
      rows.push(
        `| trove agent (${engine}) | ${atActive.toFixed(0)} MB | ${settled.toFixed(0)} MB | ${afterRpc.toFixed(0)} MB | <= ${AGENT_GOAL} MB (issue 7): ${worst <= AGENT_GOAL ? 'met' : 'not met'} |`,
      )
      await deleteAll(client.api, ids.splice(0))
    }
    await sleep(1000)
    const serverAfter = rssOf(server.pid)
    const text = [
      `Command: \`npm run bench\` (bench/memory.mjs), ${today()}, ${machine()}.`,
      '',
      "Resident memory (VmRSS). The agents: one real instance per engine (flavor m1.tiny) of `trove server`; the agent's RSS",
      `1.5 s after the instance went ACTIVE, after ${SETTLE_MS / 1000} s more of heartbeats, and after ${RPCS} GET /instances/{id} (each a guest call`,
      'for the volume usage). The server with 50 instances: see the scale section.',
      '',
      '| process | at ACTIVE | settled | after guest calls | goal |',
      '|---|---|---|---|---|',
      ...rows,
      '',
      '| process | RSS | goal |',
      '|---|---|---|',
      `| trove server, idle (no instances) | ${serverIdle.toFixed(0)} MB | <= ${SERVER_GOAL} MB with 50 instances (scale section) |`,
      `| trove server, after the instances above were created and deleted | ${serverAfter.toFixed(0)} MB | |`,
    ].join('\n')
    writeSection('memory', 'Memory: server and agents', text)
    process.stdout.write(text + '\n')
  })
}

await main()
