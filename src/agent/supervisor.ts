import type { ChildProcess } from 'node:child_process'
import { realpath, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { INSTANCE_FILES, type AgentBootstrap, type EjectedFence, type MeasuredStatus } from '../protocol/index.js'
import { loadDatastore } from './datastores/index.js'
import type { Datastore, InstancePaths, RunUser } from './datastores/types.js'
import type { Accounts } from './datastores/accounts.js'
import type { Overrides } from './datastores/overrides.js'
import { closeDrivers } from './datastores/drivers.js'
import {
  EngineProcess,
  exists,
  isEngineProcess,
  logSize,
  lookupUser,
  oneLine,
  readPidFile,
  resolveExecutable,
  socketPathProblem,
  usableCgroups,
  withDeadline,
  settledWithin,
  exitFault,
  type ExitInfo,
} from './engine-process.js'
import { GuestError } from './guest-error.js'
import type { Log } from './log.js'
import { Preparation, instancePaths, type PrepareHost } from './preparation.js'
import { deriveStatus, type EngineState } from './status.js'
import type { TemplateCache } from './template-cache.js'
import { setTimeout as sleep } from 'node:timers/promises'
import { Serial } from './serial.js'
import * as timing from './supervisor-timing.js'

/**
 * Owns the engine process: prepare on first boot (its steps in preparation.ts),
 * re-adopt or start on later boots, crash restarts with backoff, and the
 * stop/restart operations. Lifecycle operations
 * run one at a time (a promise chain); the derived status is pushed to `onChange` the
 * moment it changes, so a heartbeat goes out without waiting for the next period.
 */
export class Supervisor {
  private state: EngineState = { phase: 'building', alive: false, answering: false, lastExit: 'none' }
  private current: MeasuredStatus = 'BUILDING'
  private fault: string | undefined
  private ds: Datastore | undefined
  private user: RunUser | undefined
  /** The lab's template cache, for engines with an init command when the bootstrap names one. */
  private templates: TemplateCache | undefined
  private dataReal: string | undefined
  /** The server binary's real path, to recognise our engine in /proc. */
  private exe: string | undefined
  private proc: EngineProcess | undefined
  /** The process a stop was asked of: its exit is not a crash. */
  private stopping: EngineProcess | undefined
  /** Where the log stood when the current process started (its own lines come after). */
  private logMark = 0
  private wanted: 'running' | 'stopped' = 'running'
  private readonly queue = new Serial()
  private measuring = false
  private restartTimer: NodeJS.Timeout | undefined
  private backoffMs = timing.BACKOFF_MIN_MS
  private answeringSince = 0
  private tool: ChildProcess | undefined
  private preparing: Promise<void> | undefined
  private closed = false
  readonly paths: InstancePaths
  /** Continuous archiving (archiving.ts): told when the engine answers, and before it is stopped. */
  engineHooks: { answering(): void; beforeStop(): Promise<void> } | undefined

  constructor(
    private readonly bootstrap: AgentBootstrap,
    private readonly log: Log,
    private readonly onChange: (status: MeasuredStatus) => void,
  ) {
    this.paths = instancePaths(bootstrap.baseDir)
    this.booted = new Promise<void>((r) => (this.bootDone = r))
    this.quiet = new Promise<void>((r) => (this.quietDone = r))
  }

  /**
   * Settles once boot has handed its work to other processes (the engine is starting, or
   * a restore, init or template copy runs) or has ended. The agent connects to the broker
   * then: a TLS handshake is ~0.1 s of this one thread (interpreted, --jitless), which
   * before the engine's spawn would add to every create's time (issue 11 item 9).
   */
  readonly quiet: Promise<void>
  private quietDone!: () => void

  get status(): MeasuredStatus {
    return this.current
  }

  /** The heartbeat's fault: only while FAILED. */
  get faultMessage(): string | undefined {
    return this.current === 'FAILED' ? this.fault : undefined
  }

  get enginePid(): number | undefined {
    return this.proc?.alive ? this.proc.pid : undefined
  }

  /**
   * Settles once boot knows what this instance is: loaded, and a prepared one's engine
   * re-adopted (or started). Guest calls wait for it: an agent restarted while its
   * engine runs must not answer "not prepared" (nor let a prepare wipe the data dir)
   * in the moments before it has found the engine again.
   */
  private booted: Promise<void>
  private bootDone!: () => void

  /** First thing after the agent starts: prepare, or re-adopt/start a prepared engine. */
  async boot(): Promise<void> {
    try {
      await this.load()
    } catch (err) {
      this.fail(err)
      this.report()
      this.bootDone()
      this.quietDone()
      return
    }
    if (await exists(join(this.paths.base, INSTANCE_FILES.prepareDone))) {
      await this.exclusive(() => this.adoptOrStart())
        .finally(() => this.report())
        .finally(() => this.bootDone())
        .finally(() => this.quietDone())
    } else {
      this.report()
      this.bootDone()
      await this.prepare().finally(() => this.quietDone())
    }
  }

  /** Waits for boot (see `booted`), then requires a prepared instance. */
  async ready(): Promise<Datastore> {
    await this.booted
    this.requirePrepared()
    return this.ds!
  }

  /** Heartbeats start once the first status is known (not a transient SHUTDOWN at boot). */
  get reporting(): boolean {
    return this.reportingOn
  }

  private reportingOn = false

  private report(): void {
    if (this.reportingOn || this.closed) return
    this.reportingOn = true
    this.onChange(this.current)
  }

  private async load(): Promise<void> {
    if (this.ds) return
    const user = await lookupUser(this.bootstrap.runUser)
    const ds = await loadDatastore(this.bootstrap.datastore.manager, { bootstrap: this.bootstrap, paths: this.paths, user, log: this.log })
    for (const s of ds.sockets) {
      const problem = socketPathProblem(s)
      if (problem) throw new GuestError(problem)
    }
    const server = (await ds.serverCommand()).file
    this.exe = await resolveExecutable(server).catch(() => {
      throw new GuestError(`${server} is not installed`)
    })
    this.user = user
    this.ds = ds
    const templateDir = this.bootstrap.templateDir
    if (templateDir && ds.templateInit && ds.versionCommand)
      this.templates = new (await import('./template-cache.js')).TemplateCache({
        dir: templateDir,
        manager: this.bootstrap.datastore.manager,
        user,
        instanceId: this.bootstrap.instanceId,
        log: this.log,
        track: (c) => (this.tool = c),
      })
  }

  /** Prepare (first boot, or the prepare RPC after a failure); joins one in progress. */
  async prepare(): Promise<void> {
    await this.booted
    if (this.state.phase === 'ready') return
    this.preparing ??= this.exclusive(() => this.doPrepare()).finally(() => (this.preparing = undefined))
    return this.preparing
  }

  private async doPrepare(): Promise<void> {
    const t0 = Date.now()
    this.fault = undefined
    this.set({ phase: 'building', alive: false, answering: false, lastExit: 'none' })
    try {
      await this.load()
      const proc = await new Preparation(this.prepareHost()).run()
      this.set({ phase: 'ready' })
      this.log(`prepare: done in ${Date.now() - t0} ms, engine pid ${proc.pid}`)
    } catch (err) {
      if (this.closed) return
      this.fail(err)
    }
  }

  /** What preparation (preparation.ts) gets: the loaded engine and control of its process. */
  private prepareHost(): PrepareHost {
    const self = this
    return {
      bootstrap: this.bootstrap,
      paths: this.paths,
      ds: this.ds!,
      user: this.user!,
      templates: this.templates,
      log: this.log,
      get closed() {
        return self.closed
      },
      track: (c) => (this.tool = c),
      killCurrent: () => this.killCurrent(),
      findRunning: () => this.findRunning(),
      setDataReal: (path) => (this.dataReal = path),
      startAnswering: () => this.startAnswering(),
      waitingElsewhere: () => this.quietDone(),
    }
  }

  /** Start a freshly prepared engine and wait until it answers, or throw why not. */
  private async startAnswering(): Promise<EngineProcess> {
    const ds = this.ds!
    const t0 = Date.now()
    const proc = await this.spawn()
    const answered = await this.waitAnswering(proc, timing.PREPARE_ANSWER_MS)
    this.checkClosed()
    if (!answered) {
      if (!proc.alive) throw new GuestError(await this.exitFault(await proc.exited))
      throw new GuestError(`${ds.name} did not answer within ${timing.PREPARE_ANSWER_MS / 1000} s`)
    }
    this.log(`prepare: ${ds.name} answered ${Date.now() - t0} ms after start`)
    return proc
  }

  /**
   * Kill (not stop) the engine this agent runs, if any: during prepare its data is not trusted, and a deposed
   * primary's waiting commits must not be answered (ejectedNow). Not restarted as a crash.
   */
  private async killCurrent(): Promise<void> {
    if (!this.proc?.alive) return
    this.stopping = this.proc
    this.proc.kill('SIGKILL')
    await this.proc.waitGone(10_000)
    this.proc = undefined
  }

  private fail(err: unknown): void {
    this.fault = oneLine(err instanceof Error ? err.message : String(err))
    this.log(`prepare failed: ${this.fault}`)
    this.set({ phase: 'failed' })
  }

  private checkClosed(): void {
    if (this.closed) throw new GuestError('agent closing')
  }

  /** A running engine of this instance, by its pid files; stale or reused PIDs do not count. */
  private async findRunning(): Promise<number | undefined> {
    this.dataReal ??= await realpath(this.paths.data).catch(() => this.paths.data)
    for (const file of this.ds!.pidFiles) {
      const pid = await readPidFile(file)
      if (pid !== undefined && (await isEngineProcess(pid, this.exe!, this.dataReal))) return pid
    }
    return undefined
  }

  /** Asked at boot when the engine is not running: true holds it stopped (lease.ts). */
  holdStart: (() => boolean) | undefined

  private async adoptOrStart(): Promise<void> {
    this.set({ phase: 'ready' })
    const pid = await this.findRunning()
    if (pid === undefined && this.holdStart?.()) {
      // An HA primary without a lease (lease.ts): stopped until the control plane renews it.
      this.wanted = 'stopped'
      this.set({ alive: false, answering: false, lastExit: 'stopped' })
      return
    }
    if (pid === undefined) {
      // Ejected from its set: the engine starts read-only or not at all (never a second primary).
      if (!(await this.fence(false))) return
      const t0 = Date.now()
      const proc = await this.spawn()
      this.report()
      if (await this.waitAnswering(proc, timing.START_ANSWER_MS)) this.log(`${this.ds!.name} answered ${Date.now() - t0} ms after start`)
      return
    }
    const proc = EngineProcess.adopt(pid)
    this.watch(proc)
    this.logMark = await logSize(this.ds!.logFile)
    this.log(`re-adopted running ${this.ds!.name}, pid ${pid}`)
    this.set({ alive: true, answering: false })
    if (await this.ds!.probe(1000)) {
      this.answeringSince = Date.now()
      this.set({ answering: true })
    }
    this.report()
    if (!this.state.answering) await this.waitAnswering(proc, timing.START_ANSWER_MS)
    await this.fence(true)
  }

  /**
   * bootstrap.ejected (server/tasks/rejoin-replica.ts): this instance's set has a new primary, so its
   * engine must refuse writes until the server has made it that primary's replica. False when the
   * engine could not be fenced: it must not start (the fault says why; the rejoin then ends in ERROR).
   */
  private async fence(running: boolean): Promise<boolean> {
    const f = this.bootstrap.ejected
    const r = this.ds?.replication
    if (!f || !r) return true
    try {
      await r.fence(f, running)
      this.log(`ejected from its replication set: ${this.ds!.name} fenced read-only (new primary ${f.newSource.id})`)
      return true
    } catch (err) {
      this.fail(new GuestError(`could not fence the ejected ${this.ds!.name} read-only: ${oneLine((err as Error).message)}`))
      return false
    }
  }

  private async spawn(): Promise<EngineProcess> {
    const ds = this.ds!
    for (const f of ds.staleFiles) await rm(f, { force: true })
    this.logMark = await logSize(ds.logFile)
    const proc = await EngineProcess.spawn(await ds.serverCommand(), this.user!, await usableCgroups(this.bootstrap.cgroups ?? [], this.log), ds.logFile)
    this.quietDone()
    this.watch(proc)
    this.log(`started ${ds.name}, pid ${proc.pid}`)
    this.set({ alive: true, answering: false })
    return proc
  }

  /** Start and wait (polling fast) until it answers; a failed start shows up as a crash. */
  private async start(): Promise<void> {
    const t0 = Date.now()
    const proc = await this.spawn()
    if (await this.waitAnswering(proc, timing.START_ANSWER_MS)) this.log(`${this.ds!.name} answered ${Date.now() - t0} ms after start`)
    else if (proc.alive) this.log(`${this.ds!.name} is up but did not answer within ${timing.START_ANSWER_MS / 1000} s`)
  }

  private watch(proc: EngineProcess): void {
    this.proc = proc
    this.answeringSince = 0
    void proc.exited.then((info) => this.onExit(proc, info))
  }

  private async onExit(proc: EngineProcess, info: ExitInfo): Promise<void> {
    if (this.closed || proc !== this.proc || proc === this.stopping) return
    this.proc = undefined
    const healthyFor = this.answeringSince ? Date.now() - this.answeringSince : 0
    this.set({ alive: false, answering: false, lastExit: 'crashed' })
    this.log(`${this.ds!.name} pid ${proc.pid} died: ${await this.exitFault(info)}`)
    if (this.state.phase !== 'ready' || this.wanted !== 'running' || this.closed) return
    if (healthyFor >= timing.BACKOFF_RESET_MS) this.backoffMs = timing.BACKOFF_MIN_MS
    const delay = this.backoffMs
    this.backoffMs = Math.min(delay * 2, timing.BACKOFF_MAX_MS)
    this.log(`restarting ${this.ds!.name} in ${delay} ms`)
    clearTimeout(this.restartTimer)
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined
      void this.exclusive(async () => {
        if (this.closed || this.wanted !== 'running' || this.proc) return
        await this.start()
      }).catch((err: Error) => this.log(`restart failed: ${oneLine(err.message)}`))
    }, delay)
  }

  /** Why it ended (engine-process.ts exitFault), its log read from where this start began. */
  private exitFault(info: ExitInfo): Promise<string> {
    return exitFault(this.ds!, info, this.logMark)
  }

  /** Poll every 25 ms until the engine answers, it dies, or the time is up. */
  private async waitAnswering(proc: EngineProcess, timeoutMs: number): Promise<boolean> {
    const start = Date.now()
    const deadline = start + timeoutMs
    while (!this.closed && proc.alive && proc === this.proc) {
      if (await this.ds!.probe(1000)) {
        if (proc !== this.proc || !proc.alive) return false
        this.answeringSince = Date.now()
        this.set({ answering: true })
        return true
      }
      if (Date.now() >= deadline) return false
      await sleep(Date.now() - start < timing.POLL_FIRST_FOR_MS ? timing.POLL_FIRST_MS : timing.POLL_MS)
    }
    return false
  }

  /** The heartbeat's measurement: probe the engine unless an operation is changing it. */
  async measure(): Promise<void> {
    const proc = this.proc
    if (!proc?.alive || this.queue.busy > 0 || this.measuring || this.state.phase !== 'ready') return
    this.measuring = true
    const ok = await this.ds!.probe(2000).finally(() => (this.measuring = false))
    if (proc !== this.proc || !proc.alive || this.queue.busy > 0) return
    if (ok && !this.state.answering) this.answeringSince = Date.now()
    if (!ok) this.answeringSince = 0
    this.set({ answering: ok })
  }

  /**
   * stop_db: a graceful stop that lasts (no crash restarts) until restart; the lease's fence. Queued behind another
   * operation for STOP_QUEUE_MS (one can wait on the engine: a set_sync_replication behind a MariaDB commit waiting for
   * a semi-sync ACK), it kills the engine (acknowledging no waiting commit), which ends that operation, then stops. */
  async stopDb(): Promise<void> {
    await this.ready()
    this.wanted = 'stopped'
    let queued = true
    const stopping = this.exclusive(async () => {
      queued = false
      return this.stopEngine()
    })
    if (!(await settledWithin(stopping, timing.STOP_QUEUE_MS)) && queued && this.proc?.alive) {
      this.log(`stop_db: another operation has held ${this.ds!.name} for ${timing.STOP_QUEUE_MS / 1000} s: killing it`)
      await this.killCurrent()
    }
    return stopping
  }

  /**
   * set_ha with `ejected` (the rejoin of a primary a failover deposed): the bootstrap's fence from now on, and
   * on the engine: at once when it runs, or at its start when the lease held it stopped (`held`: started now).
   */
  async ejectedNow(f: EjectedFence, held: boolean): Promise<void> {
    this.bootstrap.ejected = f
    const r = (await this.ready()).replication
    if (!r) return
    if (!held) {
      const fencing = this.exclusive(() => r.fence(f, true))
      try {
        return await withDeadline(fencing, timing.EJECT_FENCE_MS)
      } catch (err) {
        // A synchronous primary cut off from its replicas: its commits wait for an acknowledgement no replica
        // will send, and the agent's SQL (one connection) waits behind them. Turning semi-sync off would
        // acknowledge commits the new primary does not have; SIGKILL acknowledges none.
        this.log(`ejected from its replication set: ${this.ds!.name} not fenced read-only (${oneLine((err as Error).message)}): killing it`)
      }
      await this.killCurrent()
      await withDeadline(fencing, timing.EJECT_FENCE_MS).catch(() => undefined)
    }
    await this.exclusive(() => r.fence(f, false))
    await this.restart()
    this.log(`ejected from its replication set: ${this.ds!.name} started fenced read-only (new primary ${f.newSource.id})`)
  }

  /** restart: stop, start, and wait until it answers. */
  async restart(timeoutMs = timing.START_ANSWER_MS): Promise<void> {
    await this.ready()
    this.wanted = 'running'
    return this.exclusive(async () => {
      await this.stopEngine()
      this.backoffMs = timing.BACKOFF_MIN_MS
      const proc = await this.spawn()
      if (await this.waitAnswering(proc, timeoutMs)) return
      if (!proc.alive) throw new GuestError(await this.exitFault(await proc.exited))
      throw new GuestError(`${this.ds!.name} did not answer within ${Math.round(timeoutMs / 1000)} s`)
    })
  }

  /** shutdown_agent: stop the engine gracefully whatever state it is in. */
  shutdown(): Promise<void> {
    this.wanted = 'stopped'
    this.tool?.kill('SIGTERM')
    return this.exclusive(() => this.stopEngine())
  }

  /** The engine's databases/users/root, once prepared (the account RPCs). */
  async accounts(): Promise<Accounts> {
    await this.ready()
    if (!this.ds?.accounts) throw new GuestError(`${this.ds?.name ?? 'this datastore'} has no users or databases`)
    return this.ds.accounts()
  }

  /** update_overrides: persist the group's values (one at a time with restarts, so a restart reads a whole file). */
  async updateOverrides(overrides: Overrides, remove: boolean): Promise<void> {
    const ds = await this.ready()
    if (!ds.updateOverrides) throw new GuestError(`${ds.name} has no configuration overrides`)
    return this.exclusive(() => ds.updateOverrides!(overrides, remove))
  }

  /** apply_overrides: the values live in the running engine. */
  async applyOverrides(overrides: Overrides): Promise<void> {
    const ds = await this.ready()
    if (!ds.applyOverrides) throw new GuestError(`${ds.name} has no configuration overrides`)
    return this.exclusive(async () => {
      if (!this.proc?.alive) throw new GuestError(`${ds.name} is not running`)
      await ds.applyOverrides!(overrides)
    })
  }

  /** The bootstrap the agent runs with (the engine modules share this object). */
  get config(): AgentBootstrap {
    return this.bootstrap
  }

  /** The engine's driver, once loaded. */
  get datastore(): Datastore | undefined {
    return this.ds
  }

  /**
   * Runs `fn` with no other lifecycle operation meanwhile (backup, resize, replication
   * changes). With `stopped`, the engine is stopped gracefully first and started again
   * afterwards, whether `fn` succeeded or not, and waited for until it answers; the
   * heartbeats show SHUTDOWN meanwhile and no crash restart interferes.
   */
  async maintenance<T>(fn: (ds: Datastore) => Promise<T>, opts: { stopped?: boolean; timeoutMs?: number } = {}): Promise<T> {
    const ds = await this.ready()
    return this.exclusive(async () => {
      if (!opts.stopped) return fn(ds)
      this.wanted = 'stopped'
      await this.stopEngine()
      let failure: { error: unknown } | undefined
      let result: T | undefined
      try {
        result = await fn(ds)
      } catch (error) {
        failure = { error }
      }
      this.wanted = 'running'
      this.backoffMs = timing.BACKOFF_MIN_MS
      const timeoutMs = opts.timeoutMs ?? timing.START_ANSWER_MS
      const proc = await this.spawn()
      const answered = await this.waitAnswering(proc, timeoutMs)
      if (failure) throw failure.error
      if (!answered) {
        if (!proc.alive) throw new GuestError(await this.exitFault(await proc.exited))
        throw new GuestError(`${ds.name} did not answer within ${Math.round(timeoutMs / 1000)} s`)
      }
      return result as T
    })
  }

  private requirePrepared(): void {
    if (this.state.phase !== 'ready') throw new GuestError(`the instance is not prepared (status ${this.current})`)
  }

  private async stopEngine(): Promise<void> {
    clearTimeout(this.restartTimer)
    this.restartTimer = undefined
    const proc = this.proc
    if (!proc?.alive) {
      this.proc = undefined
      this.set({ alive: false, answering: false, lastExit: 'stopped' })
      return
    }
    const t0 = Date.now()
    const ds = this.ds!
    // Neither may hold the stop (a fence): the archiver's tick and the agent's one connection can wait on the engine
    // itself (a MariaDB commit waiting for a semi-sync acknowledgement holds SHOW MASTER STATUS); stopping it ends them.
    await withDeadline(this.engineHooks?.beforeStop() ?? Promise.resolve(), timing.BEFORE_STOP_MS).catch((e: Error) =>
      this.log(`before stopping ${ds.name}: ${oneLine(e.message)}; stopping it anyway`),
    )
    // The agent's own connections go first: the engine then stops without waiting on them.
    await withDeadline(closeDrivers(), timing.CLOSE_DRIVERS_MS).catch(() => undefined)
    this.stopping = proc
    proc.kill(ds.stopSignal)
    this.log(`stopping ${ds.name} pid ${proc.pid} (${ds.stopSignal})`)
    if (!(await proc.waitGone(timing.STOP_GRACE_MS))) {
      this.log(`${ds.name} pid ${proc.pid} did not stop within ${timing.STOP_GRACE_MS / 1000} s, killing it`)
      proc.kill('SIGKILL')
      await proc.waitGone(10_000)
    }
    proc.release()
    this.proc = undefined
    this.set({ alive: false, answering: false, lastExit: 'stopped' })
    this.log(`${ds.name} stopped in ${Date.now() - t0} ms`)
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    return this.queue.run(fn)
  }

  private set(change: Partial<EngineState>): void {
    const was = this.state.phase === 'ready' && this.state.answering
    this.state = { ...this.state, ...change }
    if (!was && this.state.phase === 'ready' && this.state.answering && !this.closed) this.engineHooks?.answering()
    const status = deriveStatus(this.state)
    if (status !== this.current) {
      this.current = status
      if (this.reportingOn && !this.closed) this.onChange(status)
    }
  }

  /** The agent is going away: forget the engine without stopping it. */
  close(): void {
    this.closed = true
    clearTimeout(this.restartTimer)
    this.proc?.release()
    this.tool?.kill('SIGTERM')
  }
}
