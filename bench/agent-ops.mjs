// User and database operations through the agent (issue 13 item 7: the engines' Node drivers instead of a
// client process per statement): create/list/delete user and database, BENCH_OPS (50) of each per engine, one
// at a time, median and p95 of the server -> agent -> engine round trip; then the agent's RSS (VmRSS of the
// real detached `trove agent`) after 200 operations. Redis has no users or databases: its account operations
// (enable_root / is_root_enabled / disable_root) stand in.
// BENCH_OPS_OUT=file writes the figures as JSON (BENCH_OPS_RENDER=file writes the section from them again); BENCH_OPS_BEFORE=file (the same script run on the code
// before the change) adds them as "before" columns. BENCH_ENGINES=mariadb,postgresql,redis.
// Run with `npm run bench` (BENCH_ONLY=agent-ops) or `node bench/agent-ops.mjs` after a build.
import { readFileSync, writeFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import { join } from 'node:path'
import { machine, rssMb, sleep, writeSection } from './lib.mjs'
import { fmtMs, pct, today, verbose, withRoot } from './harness.mjs'
import { buildServer } from '../dist/server/index.js'

const N = Number(process.env.BENCH_OPS ?? 50)
const ENGINES = (process.env.BENCH_ENGINES ?? 'mariadb,postgresql,redis').split(',')
const before = process.env.BENCH_OPS_BEFORE ? JSON.parse(readFileSync(process.env.BENCH_OPS_BEFORE, 'utf8')) : undefined

async function instance(lab, manager, onCleanup) {
  const project = lab.db.prepare("SELECT id FROM projects WHERE name = 'demo'").pluck().get()
  const dsv = lab.db.prepare('SELECT id FROM datastore_versions WHERE manager = ? AND active = 1 ORDER BY version DESC LIMIT 1').pluck().get(manager)
  if (!dsv) throw new Error(`no ${manager} datastore version on this machine`)
  const id = crypto.randomUUID()
  const { address, port } = await lab.compute.reserve(id, manager, lab.instances.addressesInUse())
  lab.instances.create({
    id,
    name: `bench-ops-${manager}`,
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
    lab.instances.setTask(id, 'DELETING')
    lab.tasks.submit('delete_instance', id)
    for (const end = Date.now() + 60_000; Date.now() < end && lab.instances.get(id); ) await sleep(100)
  })
  for (const end = Date.now() + 180_000; lab.instances.get(id)?.server_status !== 'ACTIVE'; await sleep(50)) {
    if (Date.now() > end || lab.instances.get(id)?.server_status === 'ERROR') throw new Error(`the ${manager} instance did not go ACTIVE`)
  }
  return id
}

/** The operations of one engine: name -> (i) => [method, args]. */
function operations(manager) {
  if (manager === 'redis')
    return {
      enable_root: (i) => ['enable_root_with_password', { root_password: `Bench-pw-${i}` }],
      is_root_enabled: () => ['is_root_enabled', {}],
      disable_root: () => ['disable_root', {}],
    }
  return {
    create_user: (i) => ['create_user', { users: [{ name: `bench_u${i}`, host: '%', password: `Bench-pw-${i}` }] }],
    list_users: () => ['list_users', {}],
    delete_user: (i) => ['delete_user', { user: { name: `bench_u${i}`, host: '%' } }],
    create_database: (i) => ['create_database', { databases: [{ name: `bench_db${i}` }] }],
    list_databases: () => ['list_databases', {}],
    delete_database: (i) => ['delete_database', { database: { name: `bench_db${i}` } }],
  }
}

async function main() {
  // BENCH_OPS_RENDER=file: only write the section from figures measured earlier (BENCH_OPS_OUT of a run).
  const results = process.env.BENCH_OPS_RENDER ? JSON.parse(readFileSync(process.env.BENCH_OPS_RENDER, 'utf8')) : {}
  if (!process.env.BENCH_OPS_RENDER) await measure(results)
  render(results)
}

async function measure(results) {
  await withRoot('tbo', async (root, onCleanup) => {
    const dataDir = join(root, 'lab')
    const server = await buildServer({ dataDir, host: '127.0.0.1', port: 0, rateLimits: [], log: () => undefined })
    await server.start()
    onCleanup(() => server.close())
    const { lab } = server
    for (const manager of ENGINES) {
      const id = await instance(lab, manager, onCleanup)
      const call = async (method, args) => {
        try {
          return await lab.rpc.call(id, method, args, 60_000)
        } catch (e) {
          // The agent's side of a failed call, before the work dir is removed.
          const log = readFileSync(join(dataDir, 'instances', id, 'agent.log'), 'utf8')
            .split('\n')
            .slice(-40)
            .join('\n')
          throw new Error(`${manager} ${method}: ${e.message}\n-- agent.log:\n${log}`)
        }
      }
      const ops = operations(manager)
      const names = Object.keys(ops)
      const lat = Object.fromEntries(names.map((n) => [n, []]))
      let done = 0
      // In rounds (create, list, delete per i) so that lists see a handful of items, not hundreds.
      for (let i = 0; i < N; i++) {
        for (const n of names) {
          const [method, args] = ops[n](i)
          const t0 = performance.now()
          await call(method, args)
          lat[n].push(performance.now() - t0)
          done++
        }
      }
      for (let i = 0; done < 200; i++, done++) await call(...ops[names[1]](i))
      const pid = Number(readFileSync(join(dataDir, 'instances', id, 'agent.pid'), 'utf8'))
      const rss = rssMb(pid)
      results[manager] = { ops: Object.fromEntries(names.map((n) => [n, { p50: pct(lat[n], 50), p95: pct(lat[n], 95) }])), rss, done, load: loadavg()[0] }
      verbose(`${manager}: ${JSON.stringify(results[manager])}`)
    }
  })
  if (process.env.BENCH_OPS_OUT) writeFileSync(process.env.BENCH_OPS_OUT, JSON.stringify(results, null, 2))
}

function render(results) {
  const cell = (x) => (x === undefined ? '-' : fmtMs(x))
  const rows = []
  for (const [manager, r] of Object.entries(results))
    for (const [op, v] of Object.entries(r.ops)) {
      const b = before?.[manager]?.ops?.[op]
      rows.push(`| ${manager} | ${op} | ${before ? `${cell(b?.p50)} | ${cell(b?.p95)} | ` : ''}${cell(v.p50)} | ${cell(v.p95)} |`)
    }
  const rssRows = Object.entries(results).map(([m, r]) => `| ${m} | ${before?.[m] ? `${before[m].rss.toFixed(1)} MB | ` : ''}${r.rss.toFixed(1)} MB | ${r.rss <= 60 ? 'yes' : 'NO'} |`)
  const loads = Object.entries(results)
    .map(([m, r]) => `${m} ${r.load.toFixed(1)}`)
    .join(', ')
  const text = [
    `Command: \`node bench/agent-ops.mjs\` after a build (BENCH_ONLY=agent-ops with \`npm run bench\`), ${today()}, ${machine()}. 1-minute load average at the end of each engine's run: ${loads}${
      before
        ? `; before: ${Object.entries(before)
            .map(([m, r]) => `${m} ${r.load.toFixed(1)}`)
            .join(', ')}`
        : ''
    }.`,
    '',
    `Server -> agent -> engine round trips (lab.rpc.call through the embedded broker to the real agent of an ACTIVE instance), ${N} of each operation, one at a time, in rounds (create, list, delete). Redis has no users or databases: its root operations stand in.${before ? ' "Before": the same script on the code that spawned `mariadb`/`psql`/`redis-cli` per call (commit 8ab4cfa); "after": the engines\' Node drivers over one kept connection.' : ''}`,
    '',
    before ? '| engine | operation | before p50 | before p95 | after p50 | after p95 |' : '| engine | operation | p50 | p95 |',
    before ? '|---|---|---|---|---|---|' : '|---|---|---|---|',
    ...rows,
    '',
    "The agent's RSS (VmRSS) after 200 operations, with only its engine's driver loaded:",
    '',
    before ? '| engine | before | after | <= 60 MB |' : '| engine | RSS | <= 60 MB |',
    before ? '|---|---|---|---|' : '|---|---|---|',
    ...rssRows,
  ].join('\n')
  writeSection('agent-ops', 'User and database operations through the agent', text)
  process.stdout.write(text + '\n')
}

await main()
