import { spawn, type ChildProcess } from 'node:child_process'
import { access, constants, open, readFile, readlink, realpath, stat } from 'node:fs/promises'
import { openAppend } from './replace-file.js'
import { join } from 'node:path'
import type { EngineCommand, RunUser } from './datastores/context.js'
import { setTimeout as sleep } from 'node:timers/promises'

/** Linux caps sun_path at 108 bytes including the terminating NUL. */
export const MAX_SOCKET_PATH = 107

/**
 * The environment every engine and tool gets: nothing inherited from the agent.
 * UMASK/UMASK_DIR are read by MariaDB's programs only (mysys): mariadbd otherwise sets
 * its own umask for files 0660 (binlogs, logs, data files), undoing the wrapper's 077.
 */
export const ENGINE_ENV = {
  PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  LANG: 'C.UTF-8',
  UMASK: '0600',
  UMASK_DIR: '0700',
}

/**
 * Runs in /bin/sh before exec: umask 077 (files the engine rewrites stay 0600), then
 * joins each cgroup so memory is charged from the first allocation (engines.md 4:
 * v1 does not move charges), then execs. Every step keeps the same PID, so the
 * spawned child's PID is the engine's.
 */
const WRAPPER = 'umask 077; while [ "$1" != -- ]; do echo $$ > "$1/cgroup.procs" || exit 97; shift; done; shift; exec "$@"'

/** Exit code of the wrapper when it could not join a cgroup. */
export const CGROUP_EXIT = 97

export function wrapperArgs(cmd: EngineCommand, user: RunUser, cgroups: string[], ownUid = process.getuid?.()): string[] {
  // An agent that already is the run user (in its sandbox, docs/isolation.md) has nothing to drop,
  // and could not: setpriv's --init-groups needs CAP_SETGID.
  const drop = cmd.asUser && ownUid !== user.uid ? ['setpriv', `--reuid=${user.name}`, `--regid=${user.name}`, '--init-groups', '--'] : []
  return ['-c', WRAPPER, 'sh', ...cgroups, '--', ...drop, cmd.file, ...cmd.args]
}

export async function lookupUser(name: string): Promise<RunUser> {
  const passwd = await readFile('/etc/passwd', 'utf8')
  for (const line of passwd.split('\n')) {
    const f = line.split(':')
    if (f[0] === name && f.length >= 4) return { name, uid: Number(f[2]), gid: Number(f[3]) }
  }
  throw new Error(`run user ${name} does not exist`)
}

/** True while the process exists and is not a zombie (an adopted engine's parent may reap late). */
export async function isAlive(pid: number): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3)
    return state !== 'Z' && state !== 'X'
  } catch {
    return false
  }
}

/**
 * The file a command name runs, symlinks resolved, as /proc/PID/exe shows it (Debian's
 * redis-server is a link to redis-check-rdb).
 */
export async function resolveExecutable(file: string): Promise<string> {
  const candidates = file.includes('/') ? [file] : ENGINE_ENV.PATH.split(':').map((d) => join(d, file))
  for (const c of candidates) {
    if (
      await access(c, constants.X_OK).then(
        () => true,
        () => false,
      )
    )
      return realpath(c)
  }
  throw new Error(`${file} not found`)
}

/**
 * Is PID this instance's engine? Pid files can be stale and PIDs get reused, so check
 * the executable and the working directory: every engine here chdirs to its data dir.
 */
export async function isEngineProcess(pid: number, executable: string, dataDir: string): Promise<boolean> {
  try {
    const [exe, cwd] = await Promise.all([readlink(`/proc/${pid}/exe`), readlink(`/proc/${pid}/cwd`)])
    // An upgraded package leaves the running binary marked deleted.
    return exe.replace(/ \(deleted\)$/, '') === executable && cwd === dataDir && (await isAlive(pid))
  } catch {
    return false
  }
}

export async function readPidFile(path: string): Promise<number | undefined> {
  try {
    const pid = Number.parseInt((await readFile(path, 'utf8')).split('\n')[0] ?? '', 10)
    return Number.isInteger(pid) && pid > 1 ? pid : undefined
  } catch {
    return undefined
  }
}

export function socketPathProblem(path: string): string | undefined {
  const n = Buffer.byteLength(path)
  return n > MAX_SOCKET_PATH ? `socket path too long (${n} bytes, max ${MAX_SOCKET_PATH}): ${path}` : undefined
}

/** How a process ended; code and signal are null for an adopted process (not our child). */
export interface ExitInfo {
  code: number | null
  signal: NodeJS.Signals | null
}

/**
 * A running engine, spawned by this agent or adopted from an earlier one. `exited`
 * settles once it is gone: from the child's exit event, or for an adopted process
 * (whose exit we cannot wait for) by polling /proc.
 */
export class EngineProcess {
  readonly exited: Promise<ExitInfo>
  private gone = false
  private timer: NodeJS.Timeout | undefined
  private child: ChildProcess | undefined
  private settle!: (info: ExitInfo) => void

  private constructor(readonly pid: number) {
    this.exited = new Promise((resolve) => (this.settle = resolve))
    void this.exited.then(() => (this.gone = true))
  }

  get alive(): boolean {
    return !this.gone
  }

  /** Starts the engine in its own session (it must outlive the agent), output appended to logFile. */
  static async spawn(cmd: EngineCommand, user: RunUser, cgroups: string[], logFile: string): Promise<EngineProcess> {
    // Not through a link planted at the log's name (replace-file.ts): it is chowned below.
    const log = await openAppend(logFile)
    try {
      await log.chown(user.uid, user.gid)
      const child = spawn('/bin/sh', wrapperArgs(cmd, user, cgroups), {
        detached: true,
        stdio: ['ignore', log.fd, log.fd],
        env: ENGINE_ENV,
      })
      if (child.pid === undefined) {
        const err = await new Promise<Error>((resolve) => child.once('error', resolve))
        throw new Error(`could not start ${cmd.file}: ${err.message}`)
      }
      child.unref()
      const p = new EngineProcess(child.pid)
      p.child = child
      child.once('exit', (code, signal) => p.settle({ code, signal }))
      return p
    } finally {
      await log.close()
    }
  }

  static adopt(pid: number, pollMs = 200): EngineProcess {
    const p = new EngineProcess(pid)
    const poll = async (): Promise<void> => {
      if (await isAlive(pid)) p.timer = setTimeout(() => void poll(), pollMs).unref()
      else p.settle({ code: null, signal: null })
    }
    p.timer = setTimeout(() => void poll(), pollMs).unref()
    return p
  }

  kill(signal: NodeJS.Signals): void {
    if (!this.gone) {
      try {
        process.kill(this.pid, signal)
      } catch {
        /* already gone */
      }
    }
  }

  /** Resolves true once the process is gone, false on timeout. */
  async waitGone(timeoutMs: number): Promise<boolean> {
    if (this.gone) return true
    // Poll too: an adopted process is only polled every 200 ms, a child's exit event is prompt.
    const deadline = Date.now() + timeoutMs
    while (Date.now() < deadline) {
      if (this.gone || !(await isAlive(this.pid))) return true
      await sleep(20)
    }
    return false
  }

  /** Forget the process without touching it (the agent is closing; the engine keeps running). */
  release(): void {
    clearTimeout(this.timer)
    this.child?.removeAllListeners('exit')
  }
}

/** Output of a one-shot tool (install-db, initdb); the tail is kept for fault messages. */
export interface ToolResult {
  code: number | null
  signal: NodeJS.Signals | null
  output: string
}

/** Runs a tool to completion; `track` receives the child so a closing agent can stop it. */
export function runTool(cmd: EngineCommand, user: RunUser, track?: (child: ChildProcess | undefined) => void): Promise<ToolResult> {
  return new Promise((resolve) => {
    const child = spawn('/bin/sh', wrapperArgs(cmd, user, []), { stdio: ['ignore', 'pipe', 'pipe'], env: ENGINE_ENV })
    track?.(child)
    let output = ''
    const keep = (b: Buffer): void => {
      output = (output + b.toString()).slice(-16_384)
    }
    child.stdout.on('data', keep)
    child.stderr.on('data', keep)
    child.once('error', (err) => {
      track?.(undefined)
      resolve({ code: -1, signal: null, output: err.message })
    })
    child.once('close', (code, signal) => {
      track?.(undefined)
      resolve({ code, signal, output })
    })
  })
}

/** The last `bytes` of a file, not reading before offset `from` ('' when missing). */
export async function readTail(path: string, bytes = 16_384, from = 0): Promise<string> {
  try {
    const fh = await open(path, 'r')
    try {
      const { size } = await fh.stat()
      const start = Math.max(size - bytes, Math.min(from, size))
      const buf = Buffer.alloc(size - start)
      await fh.read(buf, 0, buf.length, start)
      return buf.toString()
    } finally {
      await fh.close()
    }
  } catch {
    return ''
  }
}

/** A fault or log message as one short printable line. */
export function oneLine(text: string, max = 300): string {
  const line = text
    .replace(/[\x00-\x1f\x7f]+/g, ' ')
    .replace(/\s+/g, ' ')
    .trim()
  return line.length > max ? line.slice(0, max - 3) + '...' : line
}

/** The last line of `text` matching `re` (or undefined), as one line. */
export function lastMatchingLine(text: string, re: RegExp): string | undefined {
  const lines = text.split('\n').filter((l) => re.test(l))
  const last = lines[lines.length - 1]
  return last === undefined ? undefined : oneLine(last)
}

/** `p`, or a rejection once `ms` have passed. */
export function withDeadline<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms)
  })
  return Promise.race([p, late]).finally(() => clearTimeout(timer))
}

/** Why an engine ended: the signal, or its own error line in its log since `logMark`, or its exit code. */
export async function exitFault(ds: { name: string; logFile: string; faultLine(log: string): string | undefined }, info: ExitInfo, logMark: number): Promise<string> {
  if (info.signal) return `${ds.name} killed by ${info.signal}`
  if (info.code === CGROUP_EXIT) return 'could not join the cgroups'
  const line = ds.faultLine(await readTail(ds.logFile, 65_536, logMark))
  if (line) return line
  return info.code === null ? `${ds.name} exited` : `${ds.name} exited with code ${info.code}`
}

/** Whether `p` settles (either way) within `ms`; the timer ends with it (a timer left armed keeps a stopping process alive). */
export function settledWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  const settled = p.then(
    () => true,
    () => true,
  )
  return withDeadline(settled, ms).catch(() => false)
}

/** cgroup v1 dirs to join (EngineProcess.spawn); missing ones are skipped with a log line. */
export async function usableCgroups(dirs: string[], log: (m: string) => void): Promise<string[]> {
  const usable: string[] = []
  for (const dir of dirs) {
    if (await exists(join(dir, 'cgroup.procs'))) usable.push(dir)
    else log(`cgroup ${dir} does not exist, not used`)
  }
  return usable
}

export async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  )
}

/** A file's size, 0 when it is not there. */
export function logSize(path: string): Promise<number> {
  return stat(path).then(
    (s) => s.size,
    () => 0,
  )
}
