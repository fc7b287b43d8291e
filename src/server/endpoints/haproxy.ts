import { spawn } from 'node:child_process'
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { join } from 'node:path'
import { runTool } from '../compute/tool.js'
import { type EndpointSet, renderConfig, writerProxy } from './haproxy-config.js'

/**
 * One HAProxy per lab, in master-worker mode, serving the replication sets' endpoints
 * (haproxy-config.ts). It runs detached from the server, like the agents: the endpoints keep working
 * while the control plane is down (a failover rehearsal stops the server on purpose), and a server
 * that starts again adopts the running master by its pid file instead of cutting every client off.
 *
 * Files in `dir` (root's, 0700): haproxy.cfg, haproxy.pid (the master's), admin.sock (the runtime
 * API), master.sock (the master CLI: reload), haproxy.log (its stderr).
 */

export interface HaproxyOptions {
  dir: string
  /** The haproxy binary; default: `haproxy` on PATH. */
  binary?: string
  user?: string
  group?: string
  /** How long to wait for a start or a reload to be serving (ms). */
  readyTimeoutMs?: number
}

/** Sends one command to a HAProxy CLI socket (non-interactive: it answers and closes) and resolves with the answer. */
export function cliCommand(socket: string, command: string, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(socket)
    const out: Buffer[] = []
    const timer = setTimeout(() => s.destroy(new Error(`haproxy: no answer to "${command.split(' ')[0]}" within ${timeoutMs} ms`)), timeoutMs)
    s.on('connect', () => s.end(`${command}\n`))
    s.on('data', (b: Buffer) => out.push(b))
    s.once('error', (e) => {
      clearTimeout(timer)
      reject(e)
    })
    s.once('close', () => {
      clearTimeout(timer)
      resolve(Buffer.concat(out).toString())
    })
  })
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Waits until `check` resolves true, polling with a growing interval; false once `timeoutMs` has passed. */
async function until(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs
  for (let wait = 5; ; wait = Math.min(wait * 2, 100)) {
    if (await check().catch(() => false)) return true
    if (Date.now() > end) return false
    await new Promise((r) => setTimeout(r, wait))
  }
}

export class Haproxy {
  readonly dir: string
  readonly adminSocket: string
  readonly masterSocket: string
  private readonly binary: string
  private readonly user: string
  private readonly group: string
  private readonly readyTimeoutMs: number
  private queue: Promise<unknown> = Promise.resolve()

  constructor(opts: HaproxyOptions) {
    this.dir = opts.dir
    this.adminSocket = join(opts.dir, 'admin.sock')
    this.masterSocket = join(opts.dir, 'master.sock')
    this.binary = opts.binary ?? 'haproxy'
    this.user = opts.user ?? 'nobody'
    this.group = opts.group ?? 'nogroup'
    this.readyTimeoutMs = opts.readyTimeoutMs ?? 10_000
  }

  private get cfgPath(): string {
    return join(this.dir, 'haproxy.cfg')
  }
  private get pidPath(): string {
    return join(this.dir, 'haproxy.pid')
  }

  /** The running master's pid (ours: its command line names our configuration), or null. */
  masterPid(): number | null {
    let pid: number
    try {
      pid = Number(readFileSync(this.pidPath, 'utf8').trim())
    } catch {
      return null
    }
    if (!Number.isInteger(pid) || pid < 2 || !alive(pid)) return null
    try {
      if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(this.cfgPath)) return null
    } catch {
      return null
    }
    return pid
  }

  /** The pid of the worker answering the runtime API now, or null if none answers. */
  async workerPid(): Promise<number | null> {
    const info = await cliCommand(this.adminSocket, 'show info').catch(() => '')
    const m = /^Pid: (\d+)$/m.exec(info)
    return m ? Number(m[1]) : null
  }

  /** Runs `fn` after every change queued before it: renders, reloads and run-time flips never interleave. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn)
    this.queue = next.catch(() => undefined)
    return next
  }

  /**
   * Makes HAProxy serve exactly `sets`: starts it, reloads it when the configuration changed, or stops it
   * when there is no set left. A configuration HAProxy refuses (`haproxy -c`) is never put in place.
   */
  apply(sets: readonly EndpointSet[]): Promise<void> {
    return this.serial(async () => {
      if (sets.length === 0) return this.masterPid() === null && !existsSync(this.cfgPath) ? undefined : this.stopNow()
      mkdirSync(this.dir, { recursive: true, mode: 0o700 })
      const text = renderConfig({ adminSocket: this.adminSocket, sets, user: this.user, group: this.group })
      const running = this.masterPid()
      const current = existsSync(this.cfgPath) ? readFileSync(this.cfgPath, 'utf8') : null
      if (running !== null && current === text) return
      const tmp = `${this.cfgPath}.new`
      writeFileSync(tmp, text, { mode: 0o600 })
      await runTool(this.binary, ['-c', '-q', '-f', tmp], {}, 'haproxy')
      renameSync(tmp, this.cfgPath)
      if (running === null) await this.startNow()
      else await this.reloadNow()
    })
  }

  private async startNow(): Promise<void> {
    rmSync(this.adminSocket, { force: true })
    rmSync(this.masterSocket, { force: true })
    const log = openSync(join(this.dir, 'haproxy.log'), 'a', 0o600)
    try {
      const child = spawn(this.binary, ['-W', '-S', `${this.masterSocket},mode,600`, '-f', this.cfgPath, '-p', this.pidPath], {
        detached: true,
        stdio: ['ignore', log, log],
        cwd: '/',
      })
      child.unref()
      child.once('error', () => undefined)
    } finally {
      closeSync(log)
    }
    if (!(await until(async () => this.masterPid() !== null && (await this.workerPid()) !== null, this.readyTimeoutMs))) {
      throw new Error(`haproxy did not start within ${this.readyTimeoutMs} ms (see ${join(this.dir, 'haproxy.log')})`)
    }
  }

  /** Reloads through the master CLI and waits until a new worker answers the runtime API. */
  private async reloadNow(): Promise<void> {
    const before = await this.workerPid()
    await cliCommand(this.masterSocket, 'reload')
    const ok = await until(async () => {
      const now = await this.workerPid()
      return now !== null && now !== before
    }, this.readyTimeoutMs)
    if (!ok) throw new Error(`haproxy did not reload within ${this.readyTimeoutMs} ms (see ${join(this.dir, 'haproxy.log')})`)
  }

  /** Sends one runtime API command; an answer other than the expected ones is an error. */
  async runtime(command: string): Promise<string> {
    const answer = await cliCommand(this.adminSocket, command)
    if (/^(No such|Unknown command|Require|Invalid|Permission denied)/m.test(answer)) {
      throw new Error(`haproxy: ${command}: ${answer.trim().split('\n')[0]}`)
    }
    return answer
  }

  /**
   * Moves a set's writer endpoint to `to` at once, without a reload: the old primary's server is put in
   * maintenance and its open sessions are cut (a client of the old primary must reconnect, and reaches the
   * new one), then the new one is enabled. The caller then applies the records, which say the same.
   */
  movePrimary(setId: string, from: string | null, to: string): Promise<void> {
    return this.serial(async () => {
      const proxy = writerProxy(setId)
      if (from !== null && from !== to) {
        // A reload while an eject ran may have dropped the old primary (an ejected source waiting to rejoin serves
        // nothing, sets.ts): then there is nothing of it to stop, and the new one is enabled all the same.
        try {
          await this.runtime(`set server ${proxy}/${from} state maint`)
          await this.runtime(`shutdown sessions server ${proxy}/${from}`)
        } catch (e) {
          if (!/No such server/i.test((e as Error).message)) throw e
        }
      }
      await this.runtime(`set server ${proxy}/${to} state ready`)
    })
  }

  /** Stops HAProxy (master and workers) and removes its sockets and pid file; a stopped one is left as it is. */
  stop(): Promise<void> {
    return this.serial(() => this.stopNow())
  }

  private async stopNow(): Promise<void> {
    const pid = this.masterPid()
    if (pid !== null) {
      process.kill(pid, 'SIGTERM')
      await until(async () => !alive(pid), this.readyTimeoutMs)
      if (alive(pid)) process.kill(pid, 'SIGKILL')
    }
    for (const f of [this.pidPath, this.adminSocket, this.masterSocket, this.cfgPath]) rmSync(f, { force: true })
  }
}
