// Soak (issue 6): N concurrent SDK clients (dist/sdk) create, list and delete Redis instances
// (and make and delete a backup of each when the backup routes exist: 404/501 tolerated) against
// a real `trove server` for a bounded time; zero errors expected. Afterwards nothing of the
// lab may be left: processes (agents, engines), instance directories, address claims, cgroups.
// Knobs: SOAK_MS (120000), SOAK_CLIENTS (4). Run with `npm run bench` (BENCH_ONLY=soak) or
// `node bench/soak.mjs` after a build. Writes the "Soak" section of BENCHMARKS.md.
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { processesUnder } from '../dist/server/compute/processes.js'
import { CLAIM_DIR } from '../dist/server/compute/addresses.js'
import { instanceGroupDirs } from '../dist/server/compute/cgroups.js'
import { clientFor, machine, sleep, writeSection } from './lib.mjs'
import { fmtMs, login, pct, startTroveServer, stopChild, today, unlimitedQuota, verbose, withRoot } from './harness.mjs'

const SOAK_MS = Number(process.env.SOAK_MS ?? 120_000)
const CLIENTS = Number(process.env.SOAK_CLIENTS ?? 4)

await withRoot('tsk', async (root, onCleanup) => {
  const dataDir = join(root, 'lab')
  const server = await startTroveServer(dataDir)
  onCleanup(() => stopChild(server.child))
  await unlimitedQuota(server.url, server.cloudsFile, (await login(server.url, server.cloudsFile)).project)

  const lat = new Map() // op -> ms[]
  const errors = []
  const created = new Set()
  let backupsSupported = true
  const timed = async (op, fn) => {
    const t0 = performance.now()
    try {
      const r = await fn()
      if (!lat.has(op)) lat.set(op, [])
      lat.get(op).push(performance.now() - t0)
      return r
    } catch (e) {
      errors.push(`${op}: ${e.status ?? ''} ${e.message}`)
      verbose(`soak error ${op}: ${e.message}`)
      return undefined
    }
  }
  const until = async (what, probe, ms = 180_000) => {
    const end = Date.now() + ms
    for (;;) {
      if (await probe()) return
      if (Date.now() > end) throw new Error(`timed out: ${what}`)
      await sleep(100)
    }
  }

  const end = Date.now() + SOAK_MS
  const worker = async (w) => {
    const c = await clientFor(server.cloudsFile)
    for (let i = 0; Date.now() < end; i++) {
      const inst = await timed('POST /instances', () => c.instances.create({ name: `soak-${w}-${i}`, flavorRef: '1', volume: { size: 1 }, datastore: { type: 'redis' } }))
      if (!inst) {
        await sleep(500)
        continue
      }
      created.add(inst.id)
      await timed('create -> ACTIVE', () =>
        until('ACTIVE', async () => {
          const got = await c.instances.get(inst.id)
          const s = got.status
          if (s === 'ERROR') throw new Error(`instance ${inst.id} went to ERROR: ${got.fault?.message ?? 'no fault'}`)
          return s === 'ACTIVE'
        }),
      )
      await timed('GET /instances', () => c.instances.page({ limit: 50 }))
      await timed('GET /instances/{id}', () => c.instances.get(inst.id))
      if (backupsSupported) {
        const b = await c.request('POST', '/backups', { body: { backup: { name: `soak-b-${w}-${i}`, instance: inst.id } } }).catch((e) => e)
        if (b?.status === 404 || b?.status === 501) backupsSupported = false
        else if (b?.status >= 400 || !b?.body?.backup?.id) errors.push(`POST /backups: ${b?.status} ${b?.message ?? ''}`)
        else {
          const id = b.body.backup.id
          await timed('backup -> COMPLETED', () =>
            until(
              'backup COMPLETED',
              async () => {
                const s = (await c.request('GET', `/backups/${id}`)).body.backup.status
                if (s === 'FAILED') throw new Error(`backup ${id} FAILED`)
                return s === 'COMPLETED'
              },
              120_000,
            ),
          )
          await timed('DELETE /backups/{id}', () => c.request('DELETE', `/backups/${id}`))
        }
      }
      await timed('delete -> gone', async () => {
        await c.instances.delete(inst.id)
        await until('deleted', async () => {
          try {
            await c.instances.get(inst.id)
            return false
          } catch (e) {
            if (e.status === 404) return true
            throw e
          }
        })
      })
    }
    await c.close()
  }
  const started = performance.now()
  await Promise.all(Array.from({ length: CLIENTS }, (_, w) => worker(w)))
  const secs = (performance.now() - started) / 1000

  // Leaks: nothing of the lab's instances may be left.
  await sleep(2000)
  const leaks = []
  const instancesDir = join(dataDir, 'instances')
  const procs = processesUnder(instancesDir)
  if (procs.length) leaks.push(`${procs.length} process(es) (agents/engines): ${procs.join(' ')}`)
  const dirs = existsSync(instancesDir) ? readdirSync(instancesDir) : []
  if (dirs.length) leaks.push(`${dirs.length} instance director(ies)`)
  let claims = 0
  try {
    for (const a of readdirSync(CLAIM_DIR)) {
      try {
        if (readFileSync(join(CLAIM_DIR, a), 'utf8').startsWith(instancesDir + '/')) claims++
      } catch {
        /* raced */
      }
    }
  } catch {
    /* none */
  }
  if (claims) leaks.push(`${claims} address claim(s)`)
  const groups = [...created].flatMap((id) => instanceGroupDirs(id)).filter((g) => existsSync(g))
  if (groups.length) leaks.push(`${groups.length} cgroup(s)`)
  const serverRss = Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${server.pid}/status`, 'utf8'))?.[1] ?? 0) / 1024

  const ops = [...lat.values()].reduce((n, xs) => n + xs.length, 0)
  const rows = [...lat.entries()].map(([op, xs]) => `| ${op} | ${xs.length} | ${fmtMs(pct(xs, 50))} | ${fmtMs(pct(xs, 99))} |`)
  const text = [
    `${today()}, ${machine()}. \`node bench/soak.mjs\` (SOAK_MS=${SOAK_MS}, SOAK_CLIENTS=${CLIENTS}): ${CLIENTS} concurrent SDK clients`,
    `against one \`trove server\`, each looping create Redis -> ACTIVE -> list -> show -> ${backupsSupported ? 'backup -> COMPLETED -> delete backup -> ' : ''}delete -> gone`,
    `for ${(SOAK_MS / 1000).toFixed(0)} s${backupsSupported ? '' : ' (backup routes absent: skipped)'}. The machine is shared with other work, so latencies vary between runs.`,
    '',
    `**${ops} operations, ${created.size} instances created and deleted, ${errors.length} errors, leaks: ${leaks.length ? leaks.join('; ') : 'none'}** (processes, instance directories, address claims, cgroups checked after the run; server RSS at the end ${serverRss.toFixed(0)} MB; ${secs.toFixed(0)} s in all).`,
    '',
    '| operation | count | p50 | p99 |',
    '|---|---|---|---|',
    ...rows,
    ...(errors.length ? ['', 'Errors:', '', ...errors.slice(0, 20).map((e) => `- ${e}`)] : []),
  ].join('\n')
  writeSection('soak', 'Soak', text)
  process.stdout.write(`${text}\n`)
  if (errors.length || leaks.length) process.exitCode = 1
})
