// Scale (issue 7): BENCH_SCALE_REDIS (50) real Redis instances, then BENCH_SCALE_MARIADB (10) MariaDB and
// BENCH_SCALE_POSTGRESQL (10) PostgreSQL instances on this machine, created through the API of `trove server`
// in parallel batches of BENCH_SCALE_BATCH (10): all ACTIVE, the time to create them, the server's RSS with
// 50 instances (goal <= 150 MB) and with all of them, the memory of agents and engines, then all deleted and
// checked for leaks (processes, instance directories, cgroups, address claims, rows, memory).
// Heavy: the lead runs it in `npm run bench` on a quiet machine; develop with e.g. BENCH_SCALE_REDIS=5
// BENCH_SCALE_MARIADB=1 BENCH_SCALE_POSTGRESQL=1. BENCH_VERBOSE=1 prints progress.
// Run with `npm run bench` (or `node bench/scale.mjs` after a build).
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { machine, sleep, writeSection } from './lib.mjs'
import { apiClient, deleteAll, login, memAvailableMb, rssOf, startTroveServer, stopChild, today, unlimitedQuota, verbose, waitAll, withRoot } from './harness.mjs'
import { processesUnder } from '../dist/server/compute/processes.js'
import { instanceGroupDirs } from '../dist/server/compute/cgroups.js'
import { CLAIM_DIR } from '../dist/server/compute/addresses.js'

const COUNTS = {
  redis: Number(process.env.BENCH_SCALE_REDIS ?? 50),
  mariadb: Number(process.env.BENCH_SCALE_MARIADB ?? 10),
  postgresql: Number(process.env.BENCH_SCALE_POSTGRESQL ?? 10),
}
const BATCH = Number(process.env.BENCH_SCALE_BATCH ?? 10)
const SERVER_GOAL = 150

/** Proportional set size of a process (shared pages split between their users), MB. */
function pssOf(pid) {
  try {
    return Number(/^Pss:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? 0) / 1024
  } catch {
    return 0
  }
}

async function main() {
  await withRoot('tbs', async (root, onCleanup) => {
    const dataDir = join(root, 'lab')
    const instancesDir = join(dataDir, 'instances')
    const memBefore = memAvailableMb()
    const server = await startTroveServer(dataDir)
    onCleanup(() => stopChild(server.child))
    const client = apiClient(server.url, await login(server.url, server.cloudsFile))
    await unlimitedQuota(server.url, server.cloudsFile, client.project)
    const all = []
    onCleanup(() =>
      deleteAll(
        client.api,
        all.filter((x) => x.id).map((x) => x.id),
        300_000,
      ),
    )
    await sleep(1000)
    const serverIdle = rssOf(server.pid)

    const created = {}
    let serverAt50
    for (const [engine, count] of Object.entries(COUNTS)) {
      if (!count) continue
      const t0 = performance.now()
      for (let done = 0; done < count; done += BATCH) {
        const batch = []
        for (let i = done; i < Math.min(count, done + BATCH); i++) {
          const r = await client.api('POST', '/instances', { instance: { name: `scale-${engine}-${i}`, flavorRef: '1', volume: { size: 1 }, datastore: { type: engine } } })
          if (r.status !== 200) throw new Error(`create ${engine} ${i}: ${r.status} ${JSON.stringify(r.body)}`)
          batch.push(r.body.instance.id)
          all.push({ id: r.body.instance.id, engine })
        }
        await waitAll(client.api, batch, 'ACTIVE', 300_000)
        verbose(`${engine}: ${Math.min(count, done + BATCH)}/${count} ACTIVE after ${((performance.now() - t0) / 1000).toFixed(1)} s`)
      }
      created[engine] = { count, secs: (performance.now() - t0) / 1000 }
      if (engine === 'redis') {
        await sleep(2000)
        serverAt50 = rssOf(server.pid)
      }
    }
    await sleep(3000)
    // Everything ACTIVE at once, as the API reports it.
    const listed = []
    for (let marker = ''; ; ) {
      const r = await client.api('GET', `/instances?limit=100${marker ? `&marker=${marker}` : ''}`)
      listed.push(...r.body.instances)
      if (!r.body.links?.length) break
      marker = new URL(r.body.links[0].href).searchParams.get('marker')
    }
    const active = listed.filter((i) => i.status === 'ACTIVE' && i.operating_status === 'HEALTHY').length
    const serverAll = rssOf(server.pid)
    const memAll = memAvailableMb()
    // Agents and engines: PSS of every process of each instance (the agent is the one in agent.pid).
    const perEngine = {}
    for (const { id, engine } of all) {
      const e = (perEngine[engine] ??= { agents: 0, engines: 0, n: 0 })
      const agentPid = Number(readFileSync(join(instancesDir, id, 'agent.pid'), 'utf8'))
      for (const pid of processesUnder(join(instancesDir, id))) {
        if (pid === agentPid) e.agents += pssOf(pid)
        else e.engines += pssOf(pid)
      }
      e.n++
    }
    verbose(`active ${active}/${all.length}; server ${serverAll.toFixed(0)} MB; available memory down ${(memBefore - memAll).toFixed(0)} MB`)

    const td = performance.now()
    const ids = all.map((x) => x.id)
    await deleteAll(client.api, ids, 300_000)
    const deleteSecs = (performance.now() - td) / 1000
    all.splice(0)
    await sleep(3000)
    // Leaks: anything of the deleted instances still around?
    const leftProcs = processesUnder(instancesDir).length
    const leftDirs = existsSync(instancesDir) ? readdirSync(instancesDir).length : 0
    const leftGroups = ids.flatMap((id) => instanceGroupDirs(id)).filter((d) => existsSync(d)).length
    let leftClaims = 0
    try {
      for (const a of readdirSync(CLAIM_DIR)) {
        try {
          if (readFileSync(join(CLAIM_DIR, a), 'utf8').startsWith(root + '/')) leftClaims++
        } catch {
          /* raced */
        }
      }
    } catch {
      /* none */
    }
    const leftRows = (await client.api('GET', '/instances')).body.instances.length
    const serverAfter = rssOf(server.pid)
    const memAfter = memAvailableMb()
    const leaks = leftProcs + leftDirs + leftGroups + leftClaims + leftRows
    verbose(`deleted in ${deleteSecs.toFixed(1)} s; left: ${leftProcs} processes, ${leftDirs} dirs, ${leftGroups} cgroups, ${leftClaims} claims, ${leftRows} rows`)

    const total = Object.values(COUNTS).reduce((a, b) => a + b, 0)
    const text = [
      `Command: \`npm run bench\` (bench/scale.mjs), ${today()}, ${machine()}.`,
      '',
      `\`trove server\`; instances of flavor m1.tiny (1 GB volume) created through the API in parallel batches of ${BATCH} (a batch`,
      'is POSTed, then waited for until every instance in it is ACTIVE), engine after engine, then all deleted.',
      'Agent and engine memory: PSS (shared pages split among the processes that share them) of every process of each',
      'instance. Available memory: MemAvailable of the machine before the server started and with everything running.',
      '',
      '| instances | created in | per instance |',
      '|---|---|---|',
      ...Object.entries(created).map(([e, c]) => `| ${c.count} ${e} | ${c.secs.toFixed(1)} s | ${(c.secs / c.count).toFixed(2)} s |`),
      '',
      '| measure | value | goal |',
      '|---|---|---|',
      `| instances ACTIVE and HEALTHY at once | ${active} of ${total} | all: ${active === total ? 'met' : 'not met'} |`,
      `| trove server RSS, idle | ${serverIdle.toFixed(0)} MB | |`,
      ...(serverAt50 !== undefined
        ? [`| trove server RSS, ${COUNTS.redis} Redis instances | ${serverAt50.toFixed(0)} MB | <= ${SERVER_GOAL} MB with 50 instances (issue 7): ${serverAt50 <= SERVER_GOAL ? 'met' : 'not met'} |`]
        : []),
      `| trove server RSS, all ${total} instances | ${serverAll.toFixed(0)} MB | |`,
      ...Object.entries(perEngine).map(
        ([e, m]) =>
          `| ${m.n} ${e}: agents / engines (PSS, mean) | ${m.agents.toFixed(0)} MB / ${m.engines.toFixed(0)} MB (${(m.agents / m.n).toFixed(0)} / ${(m.engines / m.n).toFixed(0)} MB each) | |`,
      ),
      `| machine memory in use for all ${total} (MemAvailable drop) | ${(memBefore - memAll).toFixed(0)} MB | |`,
      `| delete all ${total} (DELETE each, until every GET is 404) | ${deleteSecs.toFixed(1)} s | |`,
      `| left after the deletes: processes, instance dirs, cgroups, address claims, rows | ${leftProcs}, ${leftDirs}, ${leftGroups}, ${leftClaims}, ${leftRows} | none: ${leaks === 0 ? 'met' : 'not met'} |`,
      `| trove server RSS after the deletes | ${serverAfter.toFixed(0)} MB | |`,
      `| MemAvailable after the deletes minus before the server started (other processes move it too) | ${(memAfter - memBefore).toFixed(0)} MB | |`,
    ].join('\n')
    writeSection('scale', 'Scale: many instances on one machine', text)
    process.stdout.write(text + '\n')
    if (leaks) throw new Error('instances left things behind after their delete (see BENCHMARKS.md scale section)')
  })
}

await main()
