// Scale (issue 7; issue 14 item 7 with sandboxes): BENCH_SCALE_REDIS (50) real Redis instances, then BENCH_SCALE_MARIADB (10)
// MariaDB and BENCH_SCALE_POSTGRESQL (10) PostgreSQL instances on this machine, created through the API of `trove server`
// in parallel batches of BENCH_SCALE_BATCH (10): all ACTIVE, the time to create them, the server's RSS with
// 50 instances (goal <= 150 MB) and with all of them, the memory of agents and engines, then all deleted and
// checked for leaks (processes, instance directories, cgroups, address claims, rows, memory).
// BENCH_SCALE_ISOLATION=sandbox (default none): the server is `trove server --isolation sandbox` (as root), and the
// run is made twice, `none` first as the baseline (BENCH_SCALE_BASELINE=0 skips it), then `sandbox`, with the same
// engine mix: the memory a sandbox costs per instance beyond its engine and agent (goal <= 5 MB, issue 14), its init's
// PSS, the kernel's share (Slab, KernelStack, PageTables deltas; the sandbox's kmem), the lab's packet filter (a full
// re-apply with every instance timed) and the sandbox's own leak checks (runc state, cgroups, loop devices, netns
// trove-<id>, uid claims, mounts, nft entries), then `trove server reset` and the lab's own parts checked gone.
// Figures go to BENCHMARKS.md section bench:scale (none) or bench:scale-sandbox.
// Heavy: the lead runs it in `npm run bench` on a quiet machine; develop with e.g. BENCH_SCALE_REDIS=5
// BENCH_SCALE_MARIADB=1 BENCH_SCALE_POSTGRESQL=1. BENCH_VERBOSE=1 prints progress.
// Run with `npm run bench` (or `node bench/scale.mjs` after a build).
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { machine, ROOT, sleep, writeSection } from './lib.mjs'
import { apiClient, deleteAll, login, memAvailableMb, rssOf, startTroveServer, stopChild, today, unlimitedQuota, verbose, waitAll, withRoot } from './harness.mjs'
import { processesUnder } from '../dist/server/compute/processes.js'
import { instanceGroupDirs } from '../dist/server/compute/cgroups.js'
import { CLAIM_DIR } from '../dist/server/compute/addresses.js'
import { labLeftovers, labNetworkNames, meminfo, ruleSetSize, sandboxCgroupMemory, sandboxLab, sandboxLeftovers, sandboxProcesses, timeApplyRules } from './scale-sandbox.mjs'

const COUNTS = {
  redis: Number(process.env.BENCH_SCALE_REDIS ?? 50),
  mariadb: Number(process.env.BENCH_SCALE_MARIADB ?? 10),
  postgresql: Number(process.env.BENCH_SCALE_POSTGRESQL ?? 10),
}
const BATCH = Number(process.env.BENCH_SCALE_BATCH ?? 10)
const ISOLATION = process.env.BENCH_SCALE_ISOLATION ?? 'none'
if (!['none', 'sandbox'].includes(ISOLATION)) throw new Error(`BENCH_SCALE_ISOLATION must be none or sandbox, not ${ISOLATION}`)
const SERVER_GOAL = 150
const SANDBOX_GOAL_MB = 5
const TOTAL = Object.values(COUNTS).reduce((a, b) => a + b, 0)
// The sandboxed lab runs without its pools and warm sandbox (TROVE_SANDBOX_POOL=0, unless set): they are parts the lab
// keeps standing (pooled volumes and namespaces, one whole sandbox), which the leak checks after the deletes, counting
// by lab, would take for the deleted instances'. Every create here takes the cold path.
process.env.TROVE_SANDBOX_POOL ??= '0'

/** Proportional set size of a process (shared pages split between their users), MB. */
function pssOf(pid) {
  try {
    return Number(/^Pss:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? 0) / 1024
  } catch {
    return 0
  }
}

/** `trove server reset --yes` of the lab, as a user removes one (the sandboxes' parts, bridge, filter, claims, data). */
function resetLab(dataDir) {
  if (!existsSync(dataDir)) return
  const r = spawnSync(process.execPath, [join(ROOT, 'bin/trove'), 'server', 'reset', '--data-dir', dataDir, '--yes'], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } })
  if (r.status !== 0) throw new Error(`trove server reset: ${r.status} ${r.stderr.trim()}`)
}

/** One lab of `isolation` through its whole run: created, measured, deleted, checked for leaks. */
async function runLab(isolation) {
  return withRoot(isolation === 'sandbox' ? 'tbss' : 'tbs', async (root, onCleanup) => {
    const dataDir = join(root, 'lab')
    const instancesDir = join(dataDir, 'instances')
    const lab = isolation === 'sandbox' ? sandboxLab(dataDir) : undefined
    // Last of the cleanups: what the deletes (or a failure) left of the lab's sandboxes, before the root is removed.
    if (lab) onCleanup(() => resetLab(dataDir))
    const memBefore = memAvailableMb()
    const kernelBefore = meminfo()
    const server = await startTroveServer(dataDir, isolation === 'sandbox' ? ['--isolation', 'sandbox'] : [])
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
        verbose(`${isolation} ${engine}: ${Math.min(count, done + BATCH)}/${count} ACTIVE after ${((performance.now() - t0) / 1000).toFixed(1)} s`)
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
    const kernelAll = meminfo()
    // Agents and engines: PSS of every process of each instance (the agent is the one in agent.pid); in a sandbox,
    // the processes of its cgroup, the init apart.
    const perEngine = {}
    const sb = { init: 0, kmem: 0, cgroupRss: 0, seen: undefined, rules: undefined, apply: undefined }
    for (const { id, engine } of all) {
      const e = (perEngine[engine] ??= { agents: 0, engines: 0, n: 0 })
      if (lab) {
        const p = sandboxProcesses(lab, id)
        for (const pid of p.pids) {
          if (pid === p.agent) e.agents += pssOf(pid)
          else if (pid === p.init) sb.init += pssOf(pid)
          else e.engines += pssOf(pid)
        }
        const m = sandboxCgroupMemory(lab, id)
        sb.kmem += m?.kmem ?? 0
        sb.cgroupRss += m?.rss ?? 0
      } else {
        const agentPid = Number(readFileSync(join(instancesDir, id, 'agent.pid'), 'utf8'))
        for (const pid of processesUnder(join(instancesDir, id))) {
          if (pid === agentPid) e.agents += pssOf(pid)
          else e.engines += pssOf(pid)
        }
      }
      e.n++
    }
    if (lab) {
      // The leak checks below must be able to see each part: counted here with every sandbox running.
      sb.seen = sandboxLeftovers(
        lab,
        all.map((x) => x.id),
      )
      sb.rules = ruleSetSize(lab)
      sb.apply = await timeApplyRules(lab, 3)
      sb.net = labNetworkNames(lab)
      verbose(`sandbox parts while running: ${JSON.stringify(sb.seen)}; rules ${JSON.stringify(sb.rules)}; re-apply ${sb.apply.ms.map((x) => x.toFixed(0)).join(', ')} ms`)
    }
    verbose(`${isolation}: active ${active}/${all.length}; server ${serverAll.toFixed(0)} MB; available memory down ${(memBefore - memAll).toFixed(0)} MB`)

    const td = performance.now()
    const ids = all.map((x) => x.id)
    await deleteAll(client.api, ids, 300_000)
    const deleteSecs = (performance.now() - td) / 1000
    all.splice(0)
    await sleep(3000)
    // Leaks: anything of the deleted instances still around?
    const leftProcs = processesUnder(instancesDir).length + (lab ? ids.reduce((n, id) => n + sandboxProcesses(lab, id).pids.length, 0) : 0)
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
    let leaks = leftProcs + leftDirs + leftGroups + leftClaims + leftRows
    if (lab) {
      sb.left = sandboxLeftovers(lab, ids)
      leaks += Object.values(sb.left).reduce((a, b) => a + b, 0)
      // The lab itself, as a user removes it: server stopped, `trove server reset`; its bridge, subnet and tables gone.
      await stopChild(server.child)
      resetLab(dataDir)
      sb.labLeft = labLeftovers(lab, sb.net.bridge)
      leaks += Object.values(sb.labLeft).reduce((a, b) => a + b, 0)
      verbose(`sandbox parts after the deletes: ${JSON.stringify(sb.left)}; lab after reset: ${JSON.stringify(sb.labLeft)}`)
    }
    verbose(`${isolation}: deleted in ${deleteSecs.toFixed(1)} s; left: ${leftProcs} processes, ${leftDirs} dirs, ${leftGroups} cgroups, ${leftClaims} claims, ${leftRows} rows`)
    const pss = Object.values(perEngine).reduce((a, m) => a + m.agents + m.engines, 0)
    const drop = memBefore - memAll
    return {
      isolation,
      created,
      active,
      serverIdle,
      serverAt50,
      serverAll,
      serverAfter,
      perEngine,
      drop,
      // Per instance, what the machine lost beyond the agents' and engines' PSS and the server's growth.
      beyond: (drop - pss - (serverAll - serverIdle)) / TOTAL,
      kernel: Object.fromEntries(Object.keys(kernelAll).map((k) => [k, kernelAll[k] - kernelBefore[k]])),
      // The kernel's own objects (namespaces, veths, loop devices, mounts, task stacks): not PageTables, which are the processes'.
      kernelUnreclaimable: ['sunreclaim', 'kernelStack', 'percpu'].reduce((a, k) => a + kernelAll[k] - kernelBefore[k], 0),
      deleteSecs,
      left: { leftProcs, leftDirs, leftGroups, leftClaims, leftRows },
      leaks,
      memBack: memAfter - memBefore,
      sb,
    }
  })
}

/** The rows of one run's table. */
function rows(r) {
  const { leftProcs, leftDirs, leftGroups, leftClaims, leftRows } = r.left
  const kb = (mb) => `${(mb * 1024).toFixed(0)} kB`
  return [
    `| instances ACTIVE and HEALTHY at once | ${r.active} of ${TOTAL} | all: ${r.active === TOTAL ? 'met' : 'not met'} |`,
    `| trove server RSS, idle | ${r.serverIdle.toFixed(0)} MB | |`,
    ...(r.serverAt50 !== undefined
      ? [
          `| trove server RSS, ${COUNTS.redis} Redis instances | ${r.serverAt50.toFixed(0)} MB | ${COUNTS.redis === 50 ? `<= ${SERVER_GOAL} MB with 50 instances (issue 7): ${r.serverAt50 <= SERVER_GOAL ? 'met' : 'not met'}` : ''} |`,
        ]
      : []),
    `| trove server RSS, all ${TOTAL} instances | ${r.serverAll.toFixed(0)} MB | |`,
    ...Object.entries(r.perEngine).map(
      ([e, m]) => `| ${m.n} ${e}: agents / engines (PSS, mean) | ${m.agents.toFixed(0)} MB / ${m.engines.toFixed(0)} MB (${(m.agents / m.n).toFixed(0)} / ${(m.engines / m.n).toFixed(0)} MB each) | |`,
    ),
    `| machine memory in use for all ${TOTAL} (MemAvailable drop) | ${r.drop.toFixed(0)} MB | |`,
    `| per instance beyond its agent's and engine's PSS (drop minus their PSS minus the server's growth, / ${TOTAL}) | ${r.beyond.toFixed(1)} MB | |`,
    `| /proc/meminfo change for all ${TOTAL}: AnonPages / Shmem / Slab (unreclaimable) / KernelStack / PageTables / Percpu | ${r.kernel.anon.toFixed(0)} / ${r.kernel.shmem.toFixed(0)} / ${r.kernel.slab.toFixed(0)} (${r.kernel.sunreclaim.toFixed(0)}) / ${r.kernel.kernelStack.toFixed(1)} / ${r.kernel.pageTables.toFixed(1)} / ${r.kernel.percpu.toFixed(1)} MB | |`,
    `| per instance, the kernel's unreclaimable part (SUnreclaim + KernelStack + Percpu change, / ${TOTAL}) | ${(r.kernelUnreclaimable / TOTAL).toFixed(2)} MB | |`,
    ...(r.isolation === 'sandbox'
      ? [
          `| sandbox init (catatonit) PSS, mean | ${kb(r.sb.init / TOTAL)} | |`,
          `| sandbox cgroup kmem (kernel memory charged to it), mean | ${kb(r.sb.kmem / TOTAL)} | |`,
          `| packet filter with all ${TOTAL}: instances in its sets / lines of \`nft list\` | ${r.sb.rules.instances} / ${r.sb.rules.lines} | |`,
          `| a full re-apply of the lab's rules (applyFirewall, one \`nft -f\` transaction, ${r.sb.apply.instances} instances), 3 runs | ${r.sb.apply.ms.map((x) => `${x.toFixed(0)} ms`).join(', ')} | |`,
        ]
      : []),
    `| delete all ${TOTAL} (DELETE each, until every GET is 404) | ${r.deleteSecs.toFixed(1)} s | |`,
    `| left after the deletes: processes, instance dirs, cgroups, address claims, rows | ${leftProcs}, ${leftDirs}, ${leftGroups}, ${leftClaims}, ${leftRows} | none: ${r.leaks === 0 ? 'met' : 'not met'} |`,
    ...(r.isolation === 'sandbox'
      ? [
          `| sandbox parts with all running / left after the deletes: runc states, cgroup dirs, loop devices, netns trove-<id>, uid claims, mounts, instances in the nft sets | ${Object.values(r.sb.seen).join(', ')} / ${Object.values(r.sb.left).join(', ')} | none left: ${Object.values(r.sb.left).every((x) => x === 0) ? 'met' : 'not met'} |`,
          `| the lab's bridge, subnet claim, nft tables after \`trove server reset\` | ${Object.values(r.sb.labLeft).join(', ')} | none: ${Object.values(r.sb.labLeft).every((x) => x === 0) ? 'met' : 'not met'} |`,
        ]
      : []),
    `| trove server RSS after the deletes | ${r.serverAfter.toFixed(0)} MB | |`,
    `| MemAvailable after the deletes minus before the server started (other processes move it too) | ${r.memBack.toFixed(0)} MB | |`,
  ]
}

const runs = []
if (ISOLATION === 'sandbox' && process.env.BENCH_SCALE_BASELINE !== '0') runs.push(await runLab('none'))
runs.push(await runLab(ISOLATION))
const created = (r) => [
  '| instances | created in | per instance |',
  '|---|---|---|',
  ...Object.entries(r.created).map(([e, c]) => `| ${c.count} ${e} | ${c.secs.toFixed(1)} s | ${(c.secs / c.count).toFixed(2)} s |`),
]
const head = [
  `Command: ${ISOLATION === 'sandbox' ? '`BENCH_SCALE_ISOLATION=sandbox node bench/scale.mjs` (as root)' : '`npm run bench` (bench/scale.mjs)'}, ${today()}, ${machine()}.`,
  '',
  `\`trove server${ISOLATION === 'sandbox' ? ' --isolation sandbox' : ''}\`; instances of flavor m1.tiny (1 GB volume) created through the API in parallel batches of ${BATCH} (a batch`,
  'is POSTed, then waited for until every instance in it is ACTIVE), engine after engine, then all deleted.',
  'Agent and engine memory: PSS (shared pages split among the processes that share them) of every process of each',
  'instance. Available memory: MemAvailable of the machine before the server started and with everything running.',
]
let text
if (ISOLATION === 'none') {
  text = [...head, '', ...created(runs[0]), '', '| measure | value | goal |', '|---|---|---|', ...rows(runs[0])].join('\n')
  writeSection('scale', 'Scale: many instances on one machine', text)
} else {
  const [base, sbx] = runs.length === 2 ? runs : [undefined, runs[0]]
  const cost = base ? sbx.beyond - base.beyond : undefined
  const kernelCost = base ? (sbx.sb.init + sbx.kernelUnreclaimable - base.kernelUnreclaimable) / TOTAL : undefined
  text = [
    ...head,
    `The same mix is run first without sandboxes (\`trove server\`, the baseline), then with them, one lab after the other; the`,
    "memory a sandbox costs is the difference of the two runs' per-instance memory beyond agent and engine. The machine is shared",
    'with other work: MemAvailable moves with it (AnonPages far below the PSS of what the run started says others freed memory',
    'meanwhile), so that difference is only meaningful on a quiet machine. The counted figure adds what can be attributed: the',
    "init's PSS and the kernel's unreclaimable change (slab, stacks, per-CPU), sandbox run minus none run.",
    '',
    ...created(sbx),
    '',
    `| measure | ${base ? '`none` | ' : ''}\`sandbox\` | goal |`,
    `|---|${base ? '---|' : ''}---|---|`,
    ...rows(sbx).map((row) => {
      if (!base) return row
      const cells = row.split(' | ')
      const label = cells[0].slice(2)
      const other = rows(base).find((b) => b.split(' | ')[0].slice(2) === label)
      const baseValue = other ? other.split(' | ')[1] : ''
      return [`| ${label}`, baseValue, ...cells.slice(1)].join(' | ')
    }),
    ...(cost !== undefined
      ? [
          `| **memory a sandbox costs per instance**, from MemAvailable (sandbox's beyond minus none's beyond) | | ${cost.toFixed(1)} MB | <= ${SANDBOX_GOAL_MB} MB (issue 14): ${cost <= SANDBOX_GOAL_MB ? 'met' : 'not met'} |`,
          `| **memory a sandbox costs per instance**, counted (its init's PSS + the kernel's unreclaimable part, sandbox's minus none's) | | ${kernelCost.toFixed(2)} MB | <= ${SANDBOX_GOAL_MB} MB (issue 14): ${kernelCost <= SANDBOX_GOAL_MB ? 'met' : 'not met'} |`,
        ]
      : []),
  ].join('\n')
  writeSection('scale-sandbox', 'Scale with sandboxes: 70 instances, each in its own sandbox', text)
}
process.stdout.write(`${text}\n`)
if (runs.some((r) => r.leaks)) throw new Error('instances left things behind after their delete (see BENCHMARKS.md scale section)')
