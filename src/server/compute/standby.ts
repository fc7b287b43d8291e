import { spawn, type ChildProcess } from 'node:child_process'
import { closeSync, existsSync, openSync, renameSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { INSTANCE_FILES } from '../../protocol/index.js'
import { isAlive } from './processes.js'

/**
 * One agent started ahead of need (issue 11 item 9: what a user waits for `instance
 * create --wait`). Node's own start and the agent's modules take 0.15 to 0.3 s on this
 * kind of machine, before the agent can even read its bootstrap; a standby agent has
 * done that already and waits on its stdin for the path of a bootstrap. The server
 * hands it the first launch of a new instance, then starts the next standby.
 *
 * Once handed its bootstrap the agent is exactly a spawned one: it renames its process
 * title to `... trove agent --config DIR/instances/<id>/agent.json` (the command line
 * every check of an agent reads: pid files, the reconciler, `trove server reset`) and
 * moves into the instance's directory; its stdout and stderr are the file the server
 * renamed to the instance's agent.log. Linux keeps a title within the space of the
 * original arguments, hence the `--title-room` argument the standby is started with.
 *
 * A standby that was never used ends when the server does: its stdin reaches end of
 * file (the server's end of the pipe closes with it), and `stop()` kills it at once.
 */
export class StandbyAgent {
  private child: ChildProcess | undefined
  private readonly logFile: string

  constructor(
    private readonly o: {
      dataDir: string
      instancesDir: string
      /** node, its flags and bin/trove: the agent's command before `agent`. */
      command: string[]
      env: NodeJS.ProcessEnv
      log: (m: string) => void
    },
  ) {
    this.logFile = join(o.dataDir, 'standby-agent.log')
  }

  /** Starts a standby agent unless one is waiting. */
  ensure(): void {
    if (this.child && this.waiting()) return
    this.child = undefined
    rmSync(this.logFile, { force: true })
    const log = openSync(this.logFile, 'a', 0o600)
    try {
      // The longest title it will take: the command, then `agent --config <dir>/<uuid>/agent.json`.
      const title = [...this.o.command, 'agent', '--config', join(this.o.instancesDir, '0'.repeat(36), INSTANCE_FILES.bootstrap)].join(' ')
      const child = spawn('/usr/bin/env', ['-u', 'NODE_OPTIONS', ...this.o.command, 'agent', '--standby', `--title-room=${'.'.repeat(title.length + 16)}`], {
        detached: true,
        stdio: ['pipe', log, log],
        cwd: this.o.dataDir,
        env: this.o.env,
      })
      child.on('error', (e) => this.o.log(`standby agent: ${e.message}`))
      child.stdin?.on('error', () => undefined)
      child.unref()
      // The pipe must not keep the server's event loop alive either.
      ;(child.stdin as unknown as { unref?: () => void } | null)?.unref?.()
      this.child = child
    } finally {
      closeSync(log)
    }
  }

  private waiting(): boolean {
    const c = this.child
    return !!c && c.exitCode === null && c.signalCode === null && !!c.stdin?.writable && isAlive(c.pid)
  }

  /**
   * Hands a new instance's bootstrap to the waiting agent: its log file becomes the
   * instance's agent.log, then the bootstrap's path goes down its stdin. Returns its pid,
   * or undefined when no standby is waiting or the instance already has an agent log
   * (a relaunch: the caller spawns an agent as always).
   */
  take(baseDir: string): number | undefined {
    const child = this.child
    if (!child || !this.waiting() || !existsSync(this.logFile)) return undefined
    const agentLog = join(baseDir, INSTANCE_FILES.agentLog)
    if (existsSync(agentLog)) return undefined
    this.child = undefined
    renameSync(this.logFile, agentLog)
    child.stdin!.end(`${join(baseDir, INSTANCE_FILES.bootstrap)}\n`)
    return child.pid
  }

  /** Kills a standby that is still waiting (server stop). */
  stop(): void {
    const c = this.child
    this.child = undefined
    if (c?.pid && c.exitCode === null) {
      try {
        process.kill(c.pid, 'SIGKILL')
      } catch {
        /* gone */
      }
    }
    rmSync(this.logFile, { force: true })
  }
}
