import { spawn } from 'node:child_process'
import { closeSync, constants as fsc, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { sandboxCgroupDirs, type SandboxRuntime } from './sandbox.js'

/**
 * Starts a long-lived process in a running sandbox so that the sandbox's init (catatonit) is its parent
 * (docs/isolation.md, *The init*). `runc exec --detach` leaves its process a child of the host's PID 1,
 * which on some hosts reaps only every ~2 s, and the kernel ends a PID namespace (runc delete waits for
 * it) only once every zombie of it is reaped. Here `runc exec` runs a launcher, the sandbox's own /bin/sh,
 * that starts the process in the background, prints its pid and exits: the kernel
 * re-parents the orphan within the launcher's PID namespace, to catatonit, which reaps it at once. runc
 * builds the launcher (and so its child) from the bundle's config.json as before: the instance's uid, no
 * capability, no_new_privs, the sandbox's seccomp profile and cgroups. No hand-written namespace code:
 * only the pid's translation (the launcher knows the namespace's pid; the host's is the one of the
 * sandbox's cgroup whose NSpid ends with it), which no tool does for us.
 */

export interface LaunchOptions {
  args: string[]
  /** Where the host pid is written (the host's file, in the bundle: never the guest's to forge). */
  pidFile: string
  /** Where the process's stdout and stderr go (appended): a file the host owns. */
  logFile: string
  /** runc's own JSON log (its errors). */
  runcLog: string
}

/**
 * The launcher: `"$@" &` in a non-interactive sh also points stdin at /dev/null; the child's stdout and
 * stderr go to fd 3, the log file runc hands over (`--preserve-fds 1`), and it keeps nothing of runc's
 * own pipes: runc (not detached) copies the launcher's output through pipes of its own and returns once
 * the launcher has exited and they are closed, having reaped it itself (detached, the launcher would be
 * left to the host's PID 1, like the agent before). (sh ignores SIGINT and SIGQUIT in a background
 * child; the agent spawns engines through libuv, which resets every disposition to the default, so the
 * engines are not affected.)
 */
const LAUNCHER = ['/bin/sh', '-c', '"$@" >&3 2>&3 3>&- & echo $!', 'trove-launch']

/**
 * The init of a new sandbox that starts `args` as its first child: sh forks it, then becomes catatonit
 * (exec keeps pid 1), which is so its parent from the start. One `runc run` instead of `runc run` then
 * `runc exec` (~0.14 s less per create).
 */
export function initStarting(init: string[], args: string[]): string[] {
  return ['/bin/sh', '-c', `"$@" >&2 & exec ${init.join(' ')}`, 'trove-init', ...args]
}

/**
 * Waits (at most `ms`) for the child the new sandbox's init starts (initStarting: its only child then,
 * whatever pid runc's own start left it in the namespace); its host pid, written to `pidFile`.
 */
export async function awaitFirstChild(rt: SandboxRuntime, id: string, initPid: number, pidFile: string, ms = 10_000): Promise<number> {
  rmSync(pidFile, { force: true })
  const deadline = Date.now() + ms
  for (;;) {
    const pid = sandboxPids(rt, id).find((p) => statusOf(p, 'PPid') === String(initPid))
    if (pid !== undefined) {
      writeFileSync(pidFile, String(pid), { mode: 0o644 })
      return pid
    }
    if (Date.now() > deadline) throw new Error(`sandbox ${id}: its init started nothing within ${ms} ms`)
    await sleep(5)
  }
}

/** The host pids in the sandbox's cgroup (the first hierarchy that has it). */
function sandboxPids(rt: SandboxRuntime, id: string): number[] {
  for (const dir of sandboxCgroupDirs(rt, id)) {
    try {
      return readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number)
    } catch {
      /* not this hierarchy */
    }
  }
  return []
}

/** A field of /proc/<pid>/status (undefined once gone). */
function statusOf(pid: number, field: string): string | undefined {
  try {
    return new RegExp(`^${field}:\\s+(.*)$`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]?.trim()
  } catch {
    return undefined
  }
}

/** The host pid of the process of `id`'s sandbox whose pid in the sandbox's namespace is `nsPid`. */
export function hostPidOf(rt: SandboxRuntime, id: string, nsPid: number): number | undefined {
  return sandboxPids(rt, id).find((p) => Number(statusOf(p, 'NSpid')?.split(/\s+/).pop()) === nsPid)
}
/** Starts `o.args` in the running sandbox `id` as a child of its init; its host pid (also written to o.pidFile). */
export async function launchInSandbox(rt: SandboxRuntime, id: string, o: LaunchOptions): Promise<number> {
  rmSync(o.pidFile, { force: true })
  rmSync(o.runcLog, { force: true })
  const fd = openSync(o.logFile, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_APPEND | fsc.O_NOFOLLOW, 0o640)
  let out = ''
  let code: number | null
  try {
    code = await new Promise<number | null>((resolve, reject) => {
      const child = spawn(rt.runc ?? 'runc', ['--root', rt.root, '--log', o.runcLog, '--log-format', 'json', 'exec', '--preserve-fds', '1', id, ...LAUNCHER, ...o.args], {
        stdio: ['ignore', 'pipe', 'ignore', fd],
      })
      child.stdout?.setEncoding('utf8').on('data', (s: string) => (out += s))
      child.once('error', (e) => reject(new Error(`runc exec: ${e.message}`)))
      child.once('close', (c) => resolve(c))
    })
  } finally {
    closeSync(fd)
  }
  if (code !== 0) throw new Error(`runc exec: ${runcError(o.runcLog) || `exit code ${code}`}`)
  const nsPid = Number(out.trim())
  if (!Number.isInteger(nsPid) || nsPid <= 1) throw new Error(`runc exec: the launcher did not name its process (${JSON.stringify(out.trim().slice(0, 40))})`)
  const pid = hostPidOf(rt, id, nsPid)
  if (pid === undefined) throw new Error(`sandbox ${id}: ${o.args[0]} exited at once (see ${o.logFile})`)
  writeFileSync(o.pidFile, String(pid), { mode: 0o644 })
  return pid
}

/** runc's JSON log: the last error's message. */
function runcError(file: string): string {
  let msg = ''
  try {
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      try {
        const j = JSON.parse(line) as { level?: string; msg?: string }
        if (j.level === 'error' || j.level === 'fatal') msg = j.msg ?? msg
      } catch {
        /* not a JSON line */
      }
    }
  } catch {
    /* no log */
  }
  return msg.split('\n').filter(Boolean).pop() ?? ''
}
