import { spawn } from 'node:child_process'
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { CLAIM_DIR } from './compute/addresses.js'
import { instanceGroupDirs, removeInstanceGroups } from './compute/cgroups.js'
import { isAlive, processesUnder, terminate } from './compute/processes.js'
import { acquireLock, assertNotRunning, choosePort, LabError, lockHolder, logFile, readState, type LabState } from './lab-state.js'
import { setTimeout as sleep } from 'node:timers/promises'

/**
 * The lab as a local service: `trove server start|stop|status|logs|reset`. A background
 * lab is the same `trove server` process, detached, with its output in DIR/server.log.
 */

const TROVE_BIN = resolve(dirname(fileURLToPath(import.meta.url)), '../../bin/trove')

/**
 * How a background lab's process is tuned (both only take effect when a process starts, so a
 * foreground `trove server` runs with Node's and glibc's defaults, ~50 MB more resident):
 * - V8's young generation capped at 4 MB a semi-space: the server's allocation rate grew it to its
 *   16 MB default (32 MB resident) for no measurable gain in request throughput (BENCHMARKS.md);
 * - one malloc arena: every login's scrypt takes 16 MB in whichever thread-pool thread runs it, and
 *   glibc keeps that in the thread's arena (its mmap threshold rises past 16 MB after the first free),
 *   up to 64 MB for four threads. One arena keeps at most one such block, at no cost to a login.
 */
export const SERVER_NODE_FLAGS = ['--max-semi-space-size=4']
export const SERVER_ENV: Record<string, string> = { MALLOC_ARENA_MAX: '1' }

export interface StartOptions {
  dataDir: string
  host?: string
  port?: number
  rateLimits?: string
  /** --isolation of the server (docs/isolation.md). */
  isolation?: 'none' | 'sandbox'
  /** How long to wait for the server to listen. */
  timeoutMs?: number
}

/**
 * Starts `trove server` detached and waits until it listens (its state file names its
 * pid) or exits (then its own error line is the failure). Nothing is left running on failure.
 */
export async function startBackground(opts: StartOptions): Promise<LabState> {
  const dir = resolve(opts.dataDir)
  assertNotRunning(dir)
  if (opts.port) await choosePort(opts.host ?? '127.0.0.1', opts.port, undefined) // a taken port: refused before anything exists
  mkdirSync(dir, { recursive: true, mode: 0o711 })
  const log = logFile(dir)
  const from = existsSync(log) ? statSync(log).size : 0
  const fd = openSync(log, 'a', 0o600)
  const args = [...SERVER_NODE_FLAGS, TROVE_BIN, 'server', '--data-dir', dir]
  if (opts.host) args.push('--host', opts.host)
  if (opts.port !== undefined) args.push('--port', String(opts.port))
  if (opts.rateLimits !== undefined) args.push('--rate-limits', opts.rateLimits)
  if (opts.isolation !== undefined) args.push('--isolation', opts.isolation)
  const env = { ...SERVER_ENV, ...process.env } // what the user set wins
  delete env.NODE_OPTIONS // a test runner's loader is not the lab's
  const child = spawn(process.execPath, args, { detached: true, stdio: ['ignore', fd, fd], env, cwd: '/' })
  closeSync(fd)
  child.unref()
  let exited: number | null | undefined
  child.once('exit', (code, signal) => {
    exited = code ?? (signal ? 128 : 1)
  })
  const until = Date.now() + (opts.timeoutMs ?? 120_000)
  while (Date.now() < until) {
    const s = readState(dir)
    if (s && s.pid === child.pid) return s
    if (exited !== undefined) throw new LabError(`trove server did not start: ${lastError(log, from) ?? `it exited with status ${exited}`}`, `trove server logs --data-dir ${dir}`)
    await sleep(100)
  }
  if (child.pid) await terminate([child.pid], 5000)
  throw new LabError(`trove server did not listen within ${Math.round((opts.timeoutMs ?? 120_000) / 1000)} s; stopped it`, `trove server logs --data-dir ${dir}`)
}

/** The server's own failure line from its log (what it printed after `from`). */
function lastError(log: string, from: number): string | undefined {
  try {
    const lines = readFileSync(log, 'utf8')
      .slice(from)
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean)
    const tryAt = lines.findIndex((l) => l.startsWith('Try: '))
    return (tryAt > 0 ? lines[tryAt - 1] : lines.at(-1))?.replace(/^\S+Z /, '')
  } catch {
    return undefined
  }
}

/** SIGTERM to the data dir's server and wait until it is gone; undefined when none ran. Instances keep running. */
export async function stopServer(dataDir: string, timeoutMs = 60_000): Promise<number | undefined> {
  const dir = resolve(dataDir)
  const pid = lockHolder(dir)
  if (pid === undefined) return undefined
  process.kill(pid, 'SIGTERM')
  const until = Date.now() + timeoutMs
  while (isAlive(pid)) {
    if (Date.now() > until) throw new LabError(`trove server (pid ${pid}) did not stop within ${timeoutMs / 1000} s`, `kill -9 ${pid}`)
    await sleep(50)
  }
  return pid
}

/** This process's ancestors (parent, grandparent, ...). */
function ancestors(): Set<number> {
  const found = new Set<number>()
  for (let pid = process.ppid; pid > 1 && !found.has(pid); ) {
    found.add(pid)
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
      pid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
    } catch {
      break
    }
  }
  return found
}

export interface ResetSummary {
  dataDir: string
  serverPid?: number
  /** No such directory: nothing was there to remove. */
  missing?: boolean
  instances: number
  processes: number
  addresses: number
  cgroups: number
  /** Sandboxes removed (with their volumes, namespaces and uids): a sandboxed lab's instances and warm sandbox. */
  sandboxes?: number
}

/** cgroup directories named trove-<id> under the v1 memory and cpu hierarchies (any depth the server may have used). */
function findGroups(ids: Set<string>): string[] {
  const found: string[] = []
  const walk = (d: string, depth: number) => {
    let entries
    try {
      entries = readdirSync(d, { withFileTypes: true })
    } catch {
      return
    }
    for (const e of entries) {
      if (!e.isDirectory()) continue
      if (e.name.startsWith('trove-') && ids.has(e.name.slice('trove-'.length))) found.push(join(d, e.name))
      else if (depth < 6) walk(join(d, e.name), depth + 1)
    }
  }
  for (const c of ['memory', 'cpu', 'cpu,cpuacct']) walk(join('/sys/fs/cgroup', c), 0)
  return found
}

/**
 * Tears a lab down: stops its server, kills every agent and engine of its instances,
 * removes their cgroups and address claims, then the whole data dir.
 */
export async function resetLab(dataDir: string): Promise<ResetSummary> {
  const dir = resolve(dataDir)
  if (!existsSync(dir)) return { dataDir: dir, missing: true, instances: 0, processes: 0, addresses: 0, cgroups: 0 }
  if (!existsSync(join(dir, 'trove.db')) && !existsSync(join(dir, 'instances'))) {
    throw new LabError(`${dir} is not a trove lab data dir (no trove.db): nothing removed`)
  }
  const serverPid = await stopServer(dir)
  const release = acquireLock(dir) // no server starts while the lab goes away
  try {
    let ids: string[] = []
    try {
      ids = readdirSync(join(dir, 'instances'))
    } catch {
      /* none */
    }
    // Not the shell (or any ancestor of this command) that happens to sit in the data dir.
    const pids = processesUnder(dir).filter((p) => !ancestors().has(p))
    if (pids.length) await terminate(pids, 10_000)
    const groups = [...new Set([...ids.flatMap((id) => instanceGroupDirs(id)), ...findGroups(new Set(ids))])].filter((g) => existsSync(g))
    await removeInstanceGroups(groups)
    let addresses = 0
    try {
      for (const a of readdirSync(CLAIM_DIR)) {
        try {
          if (readFileSync(join(CLAIM_DIR, a), 'utf8').startsWith(`${dir}/`)) {
            rmSync(join(CLAIM_DIR, a))
            addresses++
          }
        } catch {
          /* raced */
        }
      }
    } catch {
      /* no claims */
    }
    const left = groups.filter((g) => existsSync(g))
    if (left.length) throw new LabError(`cgroup ${left[0]} is still busy: nothing else removed yet`, 'run trove server reset again')
    let sandboxes = 0
    // A lab that ran sandboxes (docs/isolation.md): their volumes are mounted inside the data dir, so they go
    // first (never an rm through a mounted volume), with the lab's bridge, filter, runc state and uid claims.
    if (existsSync(join(dir, 'sandbox')) || existsSync(join(dir, 'network'))) {
      const { SandboxedCompute } = await import('./compute/sandboxed.js')
      const { removeSandboxLab } = await import('./compute/sandbox-lab.js')
      // No pool: prepareLab sweeps what a crash left in it, and makes none.
      const c = new SandboxedCompute({ dataDir: dir, log: () => {}, poolSize: 0 })
      try {
        await c.prepareLab()
        sandboxes = c.sandboxedIds().length
        await removeSandboxLab(c)
      } catch (e) {
        throw new LabError(`the lab's sandboxes could not all be removed: ${(e as Error).message}: nothing else removed yet`, 'run trove server reset again')
      }
    }
    rmSync(dir, { recursive: true, force: true })
    return { dataDir: dir, ...(serverPid ? { serverPid } : {}), instances: ids.length, processes: pids.length, addresses, cgroups: groups.length, ...(sandboxes ? { sandboxes } : {}) }
  } finally {
    release()
  }
}
