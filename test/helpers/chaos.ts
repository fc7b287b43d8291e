// The fault-injection suite's shared parts (test/e2e/chaos-*.ts): `trove server` as a child that
// can be killed and started again on the same data dir, SDK clients of its lab, condition polls,
// the instance's files (pids, sockets) and a leftover scan. One file per scenario so that tap runs
// them side by side; `npm run chaos` (CHAOS=long) runs them all in the long mode.
import type { Test } from 'tap'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { TroveClient } from '../../src/sdk/index.js'
import { cleanEnv, labClient, troveCommand } from './lab.js'
import { guestDir, guestPid } from './guest.js'
import { processesUnder } from '../../src/server/compute/processes.js'
import { CLAIM_DIR } from '../../src/server/compute/addresses.js'
import { instanceGroupDirs } from '../../src/server/compute/cgroups.js'
import { detectEngines } from '../../src/server/compute/engines.js'

export const LONG = process.env.CHAOS === 'long'
export const ROUNDS = LONG ? Number(process.env.CHAOS_ROUNDS ?? 3) : 1
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
/** Like sleep, but does not keep the process alive (a race's deadline). */
export const deadline = (ms: number) =>
  new Promise<void>((r) => {
    setTimeout(r, ms).unref()
  })
export const redis = (await detectEngines()).find((e) => e.manager === 'redis')
/** The tests' skip option: Redis is what the chaos suite runs. */
export const needsRedis = { skip: redis ? false : 'redis-server is not installed' }

export interface Server {
  child: ChildProcess
  url: string
  out: () => string
  exited: Promise<{ code: number | null; signal: string | null }>
}

/** The file that arms a running chaos server (TROVE_TEST_CRASH_AT=@FILE, see tasks/engine.ts): empty, no crash point. */
export const armFile = (dataDir: string) => `${dataDir}.crash-at`

/**
 * `trove server` as a child process, armable through armFile(dataDir) (no crash point while it is
 * empty or missing); `extra` adds environment.
 */
export function startServer(t: Test, dataDir: string, extra: Record<string, string> = {}): Promise<Server> {
  return new Promise((done, fail) => {
    const [cmd, argv] = troveCommand(['server', '--data-dir', dataDir, '--port', '0', '--rate-limits', 'none'])
    const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: cleanEnv({ TROVE_TEST_CRASH_AT: `@${armFile(dataDir)}`, ...extra }) })
    let out = ''
    const exited = new Promise<{ code: number | null; signal: string | null }>((r) => child.once('exit', (code, signal) => r({ code, signal })))
    const onData = (b: Buffer) => {
      out += b
      const m = /listening on (http:\/\/\S+)/.exec(out)
      if (m && out.includes('use it:')) done({ child, url: m[1]!, out: () => out, exited })
    }
    child.stdout.on('data', onData)
    child.stderr.on('data', onData)
    void exited.then(({ code, signal }) => {
      if (!/listening on/.test(out)) fail(new Error(`server exited ${code ?? signal}: ${out}`))
    })
    t.teardown(async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM')
        await exited
      }
    })
  })
}

/** A lab whose server the chaos tests restart: `server` is the one running now. */
export interface CrashLab {
  dataDir: string
  server: Server
}

/**
 * Arms the lab's running server so that it dies at `point` (TROVE_TEST_CRASH_AT=@FILE), makes
 * `act` happen, checks that it died there (SIGKILL), disarms and starts a clean server: one
 * server start per kill (restarting the server with the point in its environment took two).
 * `ready`: instances the action needs ACTIVE and HEALTHY first: after a restart, an instance
 * whose last heartbeat is older than the expiry reads as a guest agent timeout until its agent's
 * next one, which on a busy machine can come after the action (the API then rightly refuses it).
 */
export async function crashAt(t: Test, lab: CrashLab, point: string, act: (c: TroveClient) => Promise<unknown>, ready: string[] = []): Promise<void> {
  for (const id of ready)
    await until(
      async () => {
        const i = await clientOf(lab.dataDir).instances.get(id)
        return i.status === 'ACTIVE' && i.operating_status === 'HEALTHY'
      },
      90_000,
      `${id} ACTIVE and HEALTHY (a fresh heartbeat) before the action`,
    )
  const armed = armFile(lab.dataDir)
  writeFileSync(armed, point)
  let death: { code: number | null; signal: string | null } | undefined
  let outcome: unknown
  try {
    const done = act(clientOf(lab.dataDir)).catch((e: Error) => e)
    death = await Promise.race([lab.server.exited, deadline(90_000).then(() => undefined)])
    outcome = await done
  } finally {
    // Disarmed before any server starts again: the restarted one resumes the flow past the point.
    writeFileSync(armed, '')
  }
  t.equal(death?.signal, 'SIGKILL', `${point}: the server died there${death ? '' : ` (the request ended: ${outcome instanceof Error ? outcome.message : 'ok'})`}`)
  if (!death) {
    lab.server.child.kill('SIGKILL')
    await lab.server.exited
  }
  lab.server = await startServer(t, lab.dataDir)
}

const clients = new Map<string, TroveClient>()
/** An SDK client of the lab's demo user (the URL changes with every server start: port 0). */
export function clientOf(dataDir: string, cloud = 'trove-lab'): TroveClient {
  const text = readFileSync(join(dataDir, 'clouds.yaml'), 'utf8')
  const key = `${cloud}\n${text}`
  const known = clients.get(key)
  if (known) return known
  const made = labClient(join(dataDir, 'clouds.yaml'), { maxRetries: 0, timeoutMs: 30_000 }, cloud)
  clients.set(key, made)
  return made
}

/**
 * Polls until `probe` holds; resolves with the time it took (ms). The deadline only ends a hang: `ms` is raised to two
 * minutes, as scripted-agent.ts's is (a CI run beside a CPU hog once failed a 30 s wait for the sandboxed archiver to
 * prune its volume), so a busy machine slows a test down instead of failing it.
 */
export async function until(probe: () => Promise<boolean> | boolean, ms: number, what: string): Promise<number> {
  const start = Date.now()
  const limit = Math.max(ms, 120_000)
  for (;;) {
    try {
      if (await probe()) return Date.now() - start
    } catch {
      /* not yet */
    }
    if (Date.now() - start > limit) throw new Error(`timed out after ${limit} ms waiting for ${what}`)
    await sleep(200)
  }
}

export const instanceDir = (dataDir: string, id: string) => join(dataDir, 'instances', id)
export const pidIn = (file: string) => {
  try {
    return Number(readFileSync(file, 'utf8').trim()) || undefined
  } catch {
    return undefined
  }
}
export const agentPid = (dataDir: string, id: string) => guestPid(dataDir, id, 'agent.pid')
export const enginePid = (dataDir: string, id: string) => guestPid(dataDir, id, 'run/redis.pid')

/** redis-cli over the instance's socket with the agent's admin password. */
export function redisCli(dataDir: string, id: string, ...args: string[]): string {
  const dir = guestDir(dataDir, id)
  const r = spawnSync('redis-cli', ['-s', join(dir, 'run/redis.sock'), '--raw', ...args], {
    encoding: 'utf8',
    timeout: 10_000,
    env: { PATH: process.env.PATH, REDISCLI_AUTH: readFileSync(join(dir, 'conf/admin.secret'), 'utf8').trim() },
  })
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.trim()
}

export async function byName(c: TroveClient, name: string) {
  return (await c.instances.page({ limit: 100 })).items.find((i) => i.name === name)
}

/** No process, directory, address claim or cgroup of the instance left. */
export function leftovers(dataDir: string, id: string, address: string | undefined): string[] {
  const found: string[] = []
  const dir = instanceDir(dataDir, id)
  if (existsSync(dir)) found.push(`directory ${dir}`)
  const procs = processesUnder(dir)
  if (procs.length) found.push(`processes ${procs.join(' ')}`)
  if (address) {
    try {
      if (readFileSync(join(CLAIM_DIR, address), 'utf8') === dir) found.push(`claim ${address}`)
    } catch {
      /* released */
    }
  }
  for (const g of instanceGroupDirs(id)) if (existsSync(g)) found.push(`cgroup ${g}`)
  return found
}
