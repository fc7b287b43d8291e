import { spawn } from 'node:child_process'
import { closeSync, constants as fsc, existsSync, lstatSync, mkdirSync, openSync, readFileSync, readdirSync, readlinkSync, rmSync, rmdirSync, symlinkSync, writeFileSync } from 'node:fs'
import { constants } from 'node:os'
import { dirname, join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { ETC_ENTRIES, SYSTEM_DIRS, etcIdentity, ociConfig, type SandboxLimits } from './oci-config.js'
import { hostHierarchy, LIMITS, type Hierarchy } from './cgroups.js'
import type { OciSeccomp } from './seccomp.js'

/**
 * An instance's sandbox: an OCI bundle run by runc (docs/isolation.md). Everything here runs as root on
 * the host, so it only writes under directories it made itself (the bundle) and never follows a path of
 * the instance: the volume is bound, not walked; /etc entries are lstat'ed on the host's side.
 * Each lab has its own runc state directory (`runc --root`) and cgroup parent, so labs never see each
 * other's sandboxes and `sweepSandboxes` removes only its own lab's leftovers.
 */

/** Which runc state directory and cgroup parent a lab's sandboxes live in. */
export interface SandboxRuntime {
  /** runc's state directory, e.g. <lab run dir>/runc (runc --root). */
  root: string
  /** The cgroup parent, relative to this process's own groups: e.g. trove-<lab>. */
  cgroupParent: string
  /** The runc binary (default runc from PATH). */
  runc?: string
}

export interface CreateSandboxOptions {
  /** [A-Za-z0-9][A-Za-z0-9_.-]*: the runc container id, its hostname and its cgroup's name. */
  id: string
  /** The bundle directory, made here (its parent must exist): config.json, rootfs/, etc/. */
  bundleDir: string
  uid: number
  gid: number
  /** Mounted read-write at /var/lib/trove-instance (made and owned by the volume module). */
  volumeDir: string
  /** A network namespace to join; a new empty one when absent. */
  netnsPath?: string | undefined
  limits: SandboxLimits
  /** The init process: the program and its arguments. */
  args: string[]
  env: string[]
  /** Where the init's stdout and stderr go (default <bundle's parent>/sandbox.log): a file the host owns. */
  logFile?: string
  /** The seccomp profile (seccomp.ts hostSeccomp()); none when absent. */
  seccomp?: OciSeccomp | undefined
  /** Host paths bound read-only (e.g. the agent's package outside /usr). */
  extraBinds?: ReadonlyArray<{ source: string; destination: string }>
  /** More files of the sandbox's own /etc (name -> text, mode 0644, root's): e.g. where the broker is. */
  etcFiles?: Record<string, string>
}

export interface SandboxState {
  status: 'creating' | 'created' | 'running' | 'paused' | 'stopped'
  /** The init's pid on the host (0 once stopped). */
  pid: number
}

const ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/

function checkId(id: string): void {
  if (!ID.test(id)) throw new Error(`sandbox: invalid id ${JSON.stringify(id)} (letters, digits, _ . -; at most 64)`)
}

function lastLine(s: string): string {
  return (
    s
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean)
      .pop() ?? ''
  )
}

/** runc's own log is JSON lines ({"level":"error","msg":...}): the last error's message. */
function lastRuncError(logFile: string): string {
  let text = ''
  try {
    text = readFileSync(logFile, 'utf8')
  } catch {
    return ''
  }
  let msg = ''
  for (const line of text.split('\n')) {
    try {
      const j = JSON.parse(line) as { level?: string; msg?: string }
      if (j.level === 'error' || j.level === 'fatal') msg = j.msg ?? msg
    } catch {
      /* not a JSON line */
    }
  }
  return msg
}

interface RunResult {
  code: number
  stdout: string
  stderr: string
}

/**
 * Runs a tool without a shell; never throws for an exit code (the caller decides). Resolves once the tool
 * has exited and its output is read: a process it leaves behind (`runc exec sh -c 'daemon &'`) may hold
 * the pipes open for ever, so they are given a short grace after the exit, then closed.
 */
function runTool(file: string, args: string[], timeoutMs = 60_000): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs })
    const out: Buffer[] = []
    const err: Buffer[] = []
    child.stdout.on('data', (b: Buffer) => out.push(b))
    child.stderr.on('data', (b: Buffer) => err.push(b))
    let code = 1
    let grace: NodeJS.Timeout | undefined
    const done = () => {
      clearTimeout(grace)
      resolve({ code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() })
    }
    child.once('error', (e) => reject(new Error(`${file}: ${e.message}`)))
    child.once('exit', (c, signal) => {
      code = c ?? (signal ? 128 + (constants.signals[signal] ?? 0) : 1)
      grace = setTimeout(() => {
        child.stdout.destroy()
        child.stderr.destroy()
        done()
      }, 500)
    })
    child.once('close', done)
  })
}

function runcArgs(rt: SandboxRuntime, args: string[]): [string, string[]] {
  return [rt.runc ?? 'runc', ['--root', rt.root, ...args]]
}

/** runc, failing with one line: the subcommand and runc's last stderr line. */
async function runc(rt: SandboxRuntime, args: string[]): Promise<string> {
  const [file, argv] = runcArgs(rt, args)
  const r = await runTool(file, argv)
  if (r.code !== 0) throw new Error(`runc ${args[0]}: ${lastLine(r.stderr) || `exit code ${r.code}`}`)
  return r.stdout
}

const missing = (e: unknown) => /does not exist|not exist|no such/i.test((e as Error).message)

/** Makes `dir` unless it exists as a real directory (never through a symlink). */
function ownDir(dir: string, mode: number): void {
  try {
    mkdirSync(dir, { mode })
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e
    if (!lstatSync(dir).isDirectory()) throw new Error(`sandbox: ${dir} exists and is not a directory`)
  }
}

/** This process's hard RLIMIT_NOFILE (a sandbox cannot be given more): /proc/self/limits, as Node has no getrlimit. */
function hostNofileHard(): number | undefined {
  const m = /^Max open files\s+\S+\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))
  return m ? Number(m[1]) : undefined
}

/**
 * Writes the bundle: rootfs/ (empty, with the symlinks of a merged-/usr host), etc/ (the instance's
 * passwd, group and hosts, and a mount point per host /etc entry bound over it), config.json.
 */
export function writeBundle(o: CreateSandboxOptions, rt: SandboxRuntime): string {
  checkId(o.id)
  ownDir(o.bundleDir, 0o711)
  const rootfs = join(o.bundleDir, 'rootfs')
  const etc = join(o.bundleDir, 'etc')
  rmSync(rootfs, { recursive: true, force: true })
  rmSync(etc, { recursive: true, force: true })
  mkdirSync(rootfs, { mode: 0o755 })
  mkdirSync(etc, { mode: 0o755 })
  const systemBinds: string[] = []
  for (const d of SYSTEM_DIRS) {
    const st = lstatSync(d, { throwIfNoEntry: false })
    if (!st) continue
    if (st.isSymbolicLink()) symlinkSync(readlinkSync(d), join(rootfs, d))
    else systemBinds.push(d)
  }
  const id = etcIdentity(o.uid, o.gid, o.id)
  for (const name of Object.keys(o.etcFiles ?? {})) if (!/^[a-z0-9][a-z0-9._-]*$/.test(name) || name in id) throw new Error(`sandbox: invalid /etc file name ${JSON.stringify(name)}`)
  for (const [name, text] of Object.entries({ ...o.etcFiles, ...id })) writeFileSync(join(etc, name), text, { mode: 0o644, flag: 'wx' })
  const etcBinds: string[] = []
  for (const e of ETC_ENTRIES) {
    const st = lstatSync(join('/etc', e), { throwIfNoEntry: false })
    if (!st) continue
    const target = join(etc, e)
    mkdirSync(dirname(target), { recursive: true, mode: 0o755 })
    if (st.isSymbolicLink()) symlinkSync(readlinkSync(join('/etc', e)), target)
    else if (st.isDirectory()) mkdirSync(target, { mode: 0o755 })
    else if (st.isFile()) writeFileSync(target, '', { mode: 0o644, flag: 'wx' })
    else continue
    if (!st.isSymbolicLink()) etcBinds.push(e)
  }
  const config = ociConfig({
    id: o.id,
    uid: o.uid,
    gid: o.gid,
    volumeDir: o.volumeDir,
    etcDir: etc,
    etcBinds,
    systemBinds,
    ...(o.extraBinds ? { extraBinds: o.extraBinds } : {}),
    netnsPath: o.netnsPath,
    limits: o.limits,
    cgroupsPath: `${rt.cgroupParent}/${o.id}`,
    args: o.args,
    env: o.env,
    seccomp: o.seccomp,
    nofile: Math.min(65536, hostNofileHard() ?? 65536),
  })
  const file = join(o.bundleDir, 'config.json')
  rmSync(file, { force: true })
  writeFileSync(file, JSON.stringify(config, null, 1), { mode: 0o600, flag: 'wx' })
  return file
}

/** Runs runc with its stdout and stderr (and so those of a detached process it starts) appended to `logFile`: the exit code. */
async function runcLogged(rt: SandboxRuntime, args: string[], logFile: string, what: string): Promise<number | null> {
  const fd = openSync(logFile, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_APPEND | fsc.O_NOFOLLOW, 0o640)
  const [file, argv] = runcArgs(rt, args)
  try {
    return await new Promise<number | null>((resolve, reject) => {
      const child = spawn(file, argv, { stdio: ['ignore', fd, fd] })
      child.once('error', reject)
      child.once('exit', (c) => resolve(c))
    })
  } catch (e) {
    throw new Error(`runc ${what}: ${(e as Error).message}`)
  } finally {
    closeSync(fd)
  }
}

/**
 * Writes the bundle and starts the sandbox (`runc run --detach`: runc itself exits once the init runs).
 * The init's stdout and stderr go to the log file; runc's own messages to <bundle>/runc.log.
 */
export async function createSandbox(rt: SandboxRuntime, o: CreateSandboxOptions): Promise<SandboxState> {
  checkId(o.id)
  mkdirSync(rt.root, { recursive: true, mode: 0o700 })
  // Never rewrite the bundle of, or undo, a sandbox that exists already.
  if (existsSync(join(rt.root, o.id))) throw new Error(`runc run: sandbox ${o.id} already exists`)
  writeBundle(o, rt)
  const logFile = o.logFile ?? join(dirname(o.bundleDir), 'sandbox.log')
  const runcLog = join(o.bundleDir, 'runc.log')
  const pidFile = join(o.bundleDir, 'init.pid')
  rmSync(runcLog, { force: true })
  rmSync(pidFile, { force: true })
  const code = await runcLogged(rt, ['--log', runcLog, '--log-format', 'json', 'run', '--detach', '--pid-file', pidFile, '--bundle', o.bundleDir, o.id], logFile, 'run')
  if (code !== 0) {
    const why = lastRuncError(runcLog) || `exit code ${code}`
    await destroySandbox(rt, o.id).catch(() => {})
    throw new Error(`runc run: ${lastLine(why)}`)
  }
  // The pid file instead of one more `runc state` (~0.1 s on a busy host).
  const pid = Number(readFileSync(pidFile, 'utf8'))
  return { status: existsSync(`/proc/${pid}`) ? 'running' : 'stopped', pid }
}

/** The sandbox's runc state, or undefined when runc does not know it. */
export async function sandboxState(rt: SandboxRuntime, id: string): Promise<SandboxState | undefined> {
  checkId(id)
  try {
    const s = JSON.parse(await runc(rt, ['state', id])) as { status: SandboxState['status']; pid: number }
    return { status: s.status, pid: s.pid }
  } catch (e) {
    if (missing(e)) return undefined
    throw e
  }
}

/** Freezes (`runc pause`: the cgroup freezer) or thaws (`runc resume`) every process of the sandbox (fault injection). */
export async function freezeSandbox(rt: SandboxRuntime, id: string, frozen: boolean): Promise<void> {
  checkId(id)
  await runc(rt, [frozen ? 'pause' : 'resume', id])
}

/** Runs a command inside the sandbox as its user, with its limits and seccomp (for tests and admin). */
export async function execInSandbox(rt: SandboxRuntime, id: string, args: string[], timeoutMs = 60_000): Promise<RunResult> {
  checkId(id)
  const [file, argv] = runcArgs(rt, ['exec', id, ...args])
  return runTool(file, argv, timeoutMs)
}

/** Sends a signal to the sandbox's init (SIGKILL ends the whole PID namespace). Nothing to do when it is gone. */
export async function killSandbox(rt: SandboxRuntime, id: string, signal = 'KILL'): Promise<void> {
  checkId(id)
  try {
    await runc(rt, ['kill', id, signal])
  } catch (e) {
    if (!missing(e) && !/not running|process already finished/i.test((e as Error).message)) throw e
  }
}

/**
 * runc's cgroupsPath prefix for a lab's sandboxes: relative (under the server's own groups, whose limits keep
 * applying) where the flavor limits are cgroup v1's, as on this lab's hybrid host; absolute, at the root of the
 * unified hierarchy, where they are v2's (Debian 12 with systemd): v2 delegates a controller only from a group with
 * no process of its own, and the server's group holds the server (under systemd, its whole login session), so runc
 * could not enable memory, cpu and pids below it and every create failed. Docker's cgroupfs driver does the same
 * (`/docker/<id>`). The v2 branch is runc's and the kernel's code; this host binds every controller to v1, so it is
 * unit-tested only (test/server/compute/sandboxed.ts).
 */
export function sandboxCgroupParent(labId: string, h: Hierarchy = hostHierarchy()): string {
  return !LIMITS.some((l) => h.v1[l]) && h.v2 ? `/trove-${labId}` : `trove-${labId}`
}

/** The cgroup path of sandbox `id` as /proc/PID/cgroup shows it (its tail, for a relative parent). */
export function sandboxCgroupPath(rt: SandboxRuntime, id: string): string {
  return `${rt.cgroupParent.startsWith('/') ? '' : '/'}${rt.cgroupParent}/${id}`
}

/** The sandbox's cgroup directories on this host (v1: one per hierarchy; v2: one), whether they exist or not. */
export function sandboxCgroupDirs(rt: SandboxRuntime, id?: string): string[] {
  const mounts = readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' '))
    .filter((f) => f[2] === 'cgroup' || f[2] === 'cgroup2')
  const dirs: string[] = []
  for (const line of readFileSync('/proc/self/cgroup', 'utf8').split('\n')) {
    const [num, ctrls, path] = line.split(':')
    if (path === undefined) continue
    const mount = num === '0' && ctrls === '' ? mounts.find((f) => f[2] === 'cgroup2')?.[1] : mounts.find((f) => f[2] === 'cgroup' && ctrls!.split(',').every((c) => f[3]!.split(',').includes(c)))?.[1]
    if (mount) dirs.push(join(mount, rt.cgroupParent.startsWith('/') ? '' : path, rt.cgroupParent, ...(id ? [id] : [])))
  }
  return dirs
}

/** Kills what is left in a sandbox's groups (a crash between runc's steps) and removes them. */
async function removeGroups(dirs: string[]): Promise<void> {
  for (const dir of dirs) {
    if (!existsSync(dir)) continue
    try {
      writeFileSync(join(dir, 'freezer.state'), 'THAWED')
    } catch {
      /* not the freezer hierarchy */
    }
  }
  const deadline = Date.now() + 10_000
  for (const dir of dirs) {
    while (existsSync(dir)) {
      const procs = readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)
      for (const p of procs) {
        try {
          process.kill(Number(p), 'SIGKILL')
        } catch {
          /* already gone */
        }
      }
      try {
        rmdirSync(dir)
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code
        if (code === 'ENOENT') break
        if (code !== 'EBUSY' || Date.now() > deadline) throw new Error(`rmdir ${dir}: ${(e as Error).message}`)
        await sleep(20)
      }
    }
  }
}

/**
 * Stops and removes the sandbox: its processes, runc's state, its cgroups and its bundle's config.
 * Idempotent, and safe after a crash at any point of create or destroy.
 */
export async function destroySandbox(rt: SandboxRuntime, id: string, bundleDir?: string): Promise<void> {
  checkId(id)
  // runc keeps a state directory per sandbox under its root: none, nothing for runc to delete (a create's
  // clean slate costs no runc run then; ~0.05-0.1 s on a busy host).
  if (existsSync(join(rt.root, id)))
    try {
      await runc(rt, ['delete', '--force', id])
    } catch (e) {
      if (!missing(e)) throw e
    }
  await removeGroups(sandboxCgroupDirs(rt, id))
  if (bundleDir) rmSync(bundleDir, { recursive: true, force: true })
}

/** The ids runc knows in this lab's state directory. */
export async function listSandboxes(rt: SandboxRuntime): Promise<string[]> {
  if (!existsSync(rt.root)) return []
  const list = JSON.parse((await runc(rt, ['list', '--format', 'json'])) || 'null') as { id: string }[] | null
  return (list ?? []).map((c) => c.id)
}

/**
 * Removes the lab's sandboxes not in `keep` (runc's state, and cgroups runc no longer knows of, from a
 * crash); with nothing kept, the lab's cgroup parents too. Returns the ids removed.
 */
export async function sweepSandboxes(rt: SandboxRuntime, keep: Iterable<string>): Promise<string[]> {
  const kept = new Set(keep)
  const removed = new Set<string>()
  for (const id of await listSandboxes(rt)) {
    if (kept.has(id)) continue
    await destroySandbox(rt, id)
    removed.add(id)
  }
  for (const parent of sandboxCgroupDirs(rt)) {
    if (!existsSync(parent)) continue
    for (const ent of readdirSync(parent, { withFileTypes: true })) {
      if (!ent.isDirectory() || kept.has(ent.name) || !ID.test(ent.name)) continue
      await removeGroups(sandboxCgroupDirs(rt, ent.name))
      removed.add(ent.name)
    }
    if (kept.size === 0) {
      try {
        rmdirSync(parent)
      } catch {
        /* still in use, or gone */
      }
    }
  }
  return [...removed]
}
