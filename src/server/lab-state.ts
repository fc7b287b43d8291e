import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync, writeSync } from 'node:fs'
import { homedir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { isAlive } from './compute/processes.js'
import { portFree } from './compute/addresses.js'
import type { Isolation } from './compute/compute.js'
import { SANDBOX_HOST_HINT, sandboxHostProblem } from './compute/sandbox-host.js'

/**
 * Where a lab lives and who runs it. The defaults are this project's own, not upstream
 * Trove's (/var/lib/trove, port 8779), so a lab never collides with a real Trove on
 * the same host. DIR/server.pid is the lock of a running server (one per data dir);
 * DIR/server.json says where it listens; DIR/server.log is a background lab's log.
 */
export const DEFAULT_PORT = 18779
/** How far above DEFAULT_PORT a lab looks when the default is taken (then any free port). */
const PORT_SEARCH = 20

/** TROVE_DATA_DIR, else /var/lib/trove-lab for root (engines must reach it), else ~/.local/share/trove-lab. */
export function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.TROVE_DATA_DIR) return resolve(env.TROVE_DATA_DIR)
  if (process.getuid?.() === 0) return '/var/lib/trove-lab'
  return join(env.XDG_DATA_HOME ?? join(homedir(), '.local', 'share'), 'trove-lab')
}

export const lockFile = (dir: string) => join(dir, 'server.pid')
export const stateFile = (dir: string) => join(dir, 'server.json')
export const logFile = (dir: string) => join(dir, 'server.log')

/** What DIR/server.json holds once the server listens. */
export interface LabState {
  pid: number
  url: string
  host: string
  port: number
  dataDir: string
  cloudsFile: string
  brokerPort: number
  startedAt: string
  /** What resource limits instances get here (cgroups), or why they are not enforced. */
  limits?: string
  /** What new instances get (docs/isolation.md): none or sandbox. */
  isolation?: string
}

/** A failure of a lab command with its one-line message (the CLI prints it as is). */
export class LabError extends Error {
  override name = 'LabError'
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message)
  }
}

/** The kernel's start time of a process (ticks since boot), to tell a recycled pid apart. */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]
  } catch {
    return undefined
  }
}

/** The pid holding the data dir's lock, if that very process (not a recycled pid) is alive. */
export function lockHolder(dir: string): number | undefined {
  let pid: number
  let started: string | undefined
  try {
    ;[pid, started] = readFileSync(lockFile(dir), 'utf8')
      .trim()
      .split(' ')
      .map((v, i) => (i === 0 ? Number(v) : v)) as [number, string]
  } catch {
    return undefined
  }
  if (!isAlive(pid)) return undefined
  if (started !== undefined && processStartTime(pid) !== started) return undefined
  return pid
}

/** The running server's state, or undefined when no server holds the data dir. */
export function readState(dir: string): LabState | undefined {
  const pid = lockHolder(dir)
  if (pid === undefined) return undefined
  try {
    const s = JSON.parse(readFileSync(stateFile(dir), 'utf8')) as LabState
    return s.pid === pid ? s : undefined
  } catch {
    return undefined
  }
}

/** The port the last run listened on (kept in server.json after a stop). */
export function previousPort(dir: string): number | undefined {
  try {
    return (JSON.parse(readFileSync(stateFile(dir), 'utf8')) as LabState).port
  } catch {
    return undefined
  }
}

const inUseMessage = (dir: string, pid: number) =>
  new LabError(`a lab server (pid ${pid}) already runs on data dir ${dir}`, `use it (trove server status --data-dir ${dir}), stop it (trove server stop --data-dir ${dir}), or pick another --data-dir`)

/**
 * Takes the data dir's lock for this process (O_EXCL create of server.pid, taking over
 * a stale one); throws a LabError naming the running server. Returns the release.
 * Hand-written: the lock must record the pid for `status`/`stop`, which
 * mkdir-based lock libraries (proper-lockfile) do not.
 */
export function acquireLock(dir: string, pid = process.pid): () => void {
  mkdirSync(dir, { recursive: true, mode: 0o711 })
  const file = lockFile(dir)
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(file, 'wx', 0o644)
      writeSync(fd, `${pid} ${processStartTime(pid) ?? ''}\n`)
      closeSync(fd)
      return () => {
        try {
          if (Number(readFileSync(file, 'utf8').trim().split(' ')[0]) === pid) unlinkSync(file)
        } catch {
          /* gone */
        }
      }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e
      const holder = lockHolder(dir)
      if (holder !== undefined) throw inUseMessage(dir, holder)
      try {
        unlinkSync(file)
      } catch {
        /* raced with another taker */
      }
    }
  }
  throw new LabError(`could not lock data dir ${dir} (another server is starting on it)`)
}

/** Refuses early (before anything is created) when a server already holds the dir. */
export function assertNotRunning(dir: string): void {
  const holder = existsSync(dir) ? lockHolder(dir) : undefined
  if (holder !== undefined) throw inUseMessage(dir, holder)
}

export function writeState(dir: string, state: LabState): void {
  const tmp = `${stateFile(dir)}.${process.pid}`
  writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o644 })
  renameSync(tmp, stateFile(dir))
}

/**
 * The port to listen on. An explicit port (flag or TROVE_PORT) must be free, else a
 * LabError; 0 is any free port. Without one: the last run's port, else DEFAULT_PORT,
 * else the next free one above it, else any; `note` says when it is not the default.
 */
export async function choosePort(host: string, explicit: number | undefined, previous: number | undefined): Promise<{ port: number; note?: string }> {
  if (explicit !== undefined) {
    if (explicit !== 0 && !(await portFree(host, explicit))) {
      throw new LabError(`port ${explicit} on ${host} is in use`, `pick another with --port PORT (or TROVE_PORT), or --port 0 for any free port`)
    }
    return { port: explicit }
  }
  const tried: number[] = []
  const candidates = [...new Set([previous, DEFAULT_PORT, ...Array.from({ length: PORT_SEARCH }, (_, i) => DEFAULT_PORT + 1 + i)])]
  for (const p of candidates) {
    if (p === undefined || p <= 0) continue
    if (await portFree(host, p)) return { port: p, ...(p !== DEFAULT_PORT ? { note: `port ${DEFAULT_PORT} is in use: using port ${p}` } : {}) }
    tried.push(p)
  }
  return { port: 0, note: `ports ${DEFAULT_PORT}-${DEFAULT_PORT + PORT_SEARCH} are in use: using any free port` }
}

/** The banner a started server prints (foreground) and `trove server start|status` repeat. */
export function banner(s: LabState): string {
  return [
    `trove lab server listening on ${s.url}`,
    `  Trove API  ${s.url}/v1.0/<project_id>    Keystone  ${s.url}/identity/v3    MQTT broker  mqtts://${s.host}:${s.brokerPort}`,
    `  data       ${s.dataDir}`,
    ...(s.limits ? [`  limits     ${s.limits}`] : []),
    ...(s.isolation
      ? [
          `  isolation  ${s.isolation === 'sandbox' ? 'sandbox (a runc sandbox, uid, volume and network namespace per new instance)' : 'none (every engine on a loopback address as one user: not isolated)'}`,
        ]
      : []),
    `  use it:    export OS_CLIENT_CONFIG_FILE=${s.cloudsFile} OS_CLOUD=trove-lab   (trove-lab-admin for admin)`,
    `             trove instance list        # or: openstack database instance list`,
    '',
  ].join('\n')
}

/** The engine user must exist before instances can start (scripts/setup.sh creates it). */
export function checkRunUser(user: string): void {
  if (process.getuid?.() !== 0) return
  let passwd = ''
  try {
    passwd = readFileSync('/etc/passwd', 'utf8')
  } catch {
    return
  }
  if (!passwd.split('\n').some((l) => l.startsWith(`${user}:`))) {
    throw new LabError(`the engine user ${user} does not exist: this host is not set up`, 'bash scripts/setup.sh (as root, in a clone of trove)')
  }
}

/**
 * The isolation a lab runs: the option, else TROVE_ISOLATION, else sandbox; `none` for an API-only lab (spawnAgents
 * false: its agents are simulated, there is nothing to sandbox; asking for both is refused). A sandboxed lab on a host
 * that cannot run sandboxes is refused here, before anything is made, naming what is missing and the way out.
 */
export function labIsolation(o: { isolation?: Isolation; spawnAgents?: boolean }): Isolation {
  const isolation = o.isolation ?? (o.spawnAgents === false ? 'none' : isolationFromEnv(process.env.TROVE_ISOLATION))
  if (isolation === 'sandbox' && o.spawnAgents === false) throw new LabError('a sandboxed lab runs its agents in their sandboxes: spawnAgents: false needs isolation none')
  const problem = isolation === 'sandbox' ? sandboxHostProblem() : undefined
  if (problem) throw new LabError(problem, SANDBOX_HOST_HINT)
  return isolation
}

/**
 * TROVE_ISOLATION (as `trove server` reads it beside --isolation), else `sandbox`: each instance isolated
 * like a VM unless `none` is asked for explicitly (issue 14; a host that cannot run sandboxes is refused at
 * start, naming what is missing and `--isolation none`).
 */
export function isolationFromEnv(v: string | undefined): Isolation {
  if (!v || v === 'none' || v === 'sandbox') return (v || 'sandbox') as Isolation
  throw new LabError(`TROVE_ISOLATION must be none or sandbox, not '${v}'`, 'unset it, or set it to none or sandbox')
}

// pg's socket path DIR/instances/<36-char id>/run/.s.PGSQL.5432 must stay within 107 bytes.
const MAX_DATA_DIR_LENGTH = 107 - '/instances/'.length - 36 - '/run/.s.PGSQL.5432'.length

/** Every ancestor must let the engine user through (x for others), or engines cannot reach their data. */
function checkTraversable(dir: string): void {
  for (let d = dirname(dir); ; d = dirname(d)) {
    const mode = statSync(d).mode
    if ((mode & 0o001) === 0) {
      throw new Error(
        `data directory ${dir} is not reachable by the engine user: ${d} has mode ${(mode & 0o777).toString(8)}; pick a directory outside it (e.g. --data-dir /var/lib/trove-lab) or run: chmod o+x ${d}`,
      )
    }
    if (d === dirname(d)) break
  }
}

/** The data dir made (0711) and checked: short enough for the engines' socket paths, reachable by the engine user. */
export function prepareDataDir(dir: string): void {
  if (dir.length > MAX_DATA_DIR_LENGTH) {
    throw new Error(`data directory path is too long (${dir.length} > ${MAX_DATA_DIR_LENGTH} characters): engine socket paths would exceed 107 bytes`)
  }
  mkdirSync(dir, { recursive: true, mode: 0o711 })
  chmodSync(dir, 0o711)
  checkTraversable(dir)
}
