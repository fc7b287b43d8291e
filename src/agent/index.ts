import { existsSync, rmSync, watch, writeFileSync, writeSync, type FSWatcher } from 'node:fs'
import { readFile, rm, writeFile } from 'node:fs/promises'
import { dirname, isAbsolute, join, resolve } from 'node:path'
import {
  INSTANCE_FILES,
  agentEventTopic,
  linkTimeoutSeconds,
  agentReplyTopic,
  decode,
  encode,
  type AgentBootstrap,
  type AgentEvent,
  type FilesystemStats,
  type RpcReply,
  type RpcRequest,
} from '../protocol/index.js'
import type { MqttClient } from './connection.js'
import { isAlive, oneLine } from './engine-process.js'
import { filesystemStats, isMountPoint, volumeStats } from './fs-stats.js'
import { timestampedLog, type Log } from './log.js'
import { openAppend } from './replace-file.js'
import { RpcDispatcher, encodeReply } from './rpc.js'
import { agentMethods } from './handlers/index.js'
import { BackupRunner } from './handlers/backup.js'
import { Supervisor } from './supervisor.js'
import { ArchiveKeeper } from './archiving.js'
import { closeDrivers } from './datastores/drivers.js'
import { supervisorLogs } from './handlers/logs.js'
import { ModuleManager } from './handlers/modules.js'
import { ObjectStore, setObjectStore } from './object-store.js'
import { Lease } from './lease.js'
import { replicationViews } from './ha-views.js'

export interface AgentHandle {
  /** Settles with the exit code when the agent has ended (close() or shutdown_agent). */
  done: Promise<number>
  /** Stop the agent gracefully WITHOUT stopping the engine (what SIGTERM does). */
  close(): Promise<void>
}

export interface AgentOptions {
  /** Where log lines go (timestamped); stderr by default. */
  log?: (line: string) => void
}

async function readBootstrap(path: string): Promise<AgentBootstrap> {
  let b: Partial<AgentBootstrap> | undefined
  try {
    b = decode<AgentBootstrap>(await readFile(path))
  } catch (err) {
    throw new Error(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
  const missing = (['instanceId', 'datastore', 'brokerFile', 'mqtt', 'baseDir', 'address', 'port', 'flavor', 'runUser', 'prepare'] as const).filter((k) => b?.[k] === undefined)
  if (!b || missing.length) throw new Error(`${path} is not an agent bootstrap (missing ${missing.join(', ') || 'everything'})`)
  return b as AgentBootstrap
}

/**
 * Two agents for one instance would share an MQTT client id and kick each other off
 * the broker every 500 ms, so refuse to start while another live agent owns agent.pid.
 */
async function claimPidFile(pidFile: string, baseDir: string): Promise<void> {
  const other = Number.parseInt(await readFile(pidFile, 'utf8').catch(() => ''), 10)
  if (Number.isInteger(other) && other !== process.pid && (await isAlive(other))) {
    const cmdline = await readFile(`/proc/${other}/cmdline`, 'utf8').catch(() => '')
    if (cmdline.includes(baseDir)) throw new Error(`another agent (pid ${other}) is running for this instance`)
  }
  await writeFile(pidFile, `${process.pid}\n`)
}

/**
 * A sandboxed agent's log: each line to its output (the host's sandbox.log) and appended to its own
 * agent.log in the volume, opened without following a link (replace-file.ts), so `guest` can be published.
 * Written synchronously: lines stay in order and the last ones before a crash are there.
 */
async function ownLogSink(file: string, also?: (line: string) => void): Promise<(line: string) => void> {
  const fh = await openAppend(file)
  const out = also ?? ((line: string) => void process.stderr.write(`${line}\n`))
  return (line) => {
    out(line)
    try {
      writeSync(fh.fd, `${line}\n`)
    } catch {
      /* a full volume: the line still reached the output */
    }
  }
}

/**
 * Starts the guest agent for the instance described by the bootstrap file. It returns
 * once the agent runs; prepare (or re-adopting the engine) and the broker connection
 * proceed in the background, in parallel, so the engine's first answer is reported
 * without waiting on anything else.
 */
export async function startAgent(bootstrapPath: string, opts: AgentOptions = {}): Promise<AgentHandle> {
  const bootstrap = await readBootstrap(bootstrapPath)
  const log: Log = timestampedLog(bootstrap.ownLog ? await ownLogSink(join(bootstrap.baseDir, INSTANCE_FILES.agentLog), opts.log) : opts.log)
  const id = bootstrap.instanceId
  const pidFile = join(bootstrap.baseDir, INSTANCE_FILES.agentPid)
  await claimPidFile(pidFile, bootstrap.baseDir)
  log(`agent ${process.pid} starting for instance ${id} (${bootstrap.datastore.manager} ${bootstrap.datastore.version})`)
  // A sandbox: backups and published logs stream through the server's object store (object-store.ts).
  if (bootstrap.objectStore && bootstrap.mqtt.ca)
    setObjectStore(
      new ObjectStore({
        bootstrapFile: bootstrapPath,
        username: bootstrap.mqtt.username,
        password: bootstrap.mqtt.password,
        ca: bootstrap.mqtt.ca,
        backupDir: bootstrap.backupDir,
        storageDir: bootstrap.storageDir,
      }),
    )

  let lastSent = 0
  const heartbeat = (): void => {
    // Offline: skip (one goes out on reconnect, no stale backlog); at boot: wait for a real status.
    if (!client?.connected || !supervisor.reporting) return
    // The server drops an event whose `sent` is not newer than the last one it saw.
    const sent = Math.max(Date.now(), lastSent + 1)
    lastSent = sent
    const status = supervisor.status
    const event: AgentEvent = { kind: 'heartbeat', sent, status, agentPid: process.pid }
    lease.sent(sent)
    const enginePid = supervisor.enginePid
    if (enginePid !== undefined) event.enginePid = enginePid
    const fault = supervisor.faultMessage
    if (fault !== undefined) event.fault = fault
    const volume = freshStats()
    if (volume) event.volume = volume
    const archive = archiving.status()
    if (archive) event.archive = archive
    client.publish(agentEventTopic(id), encode(event), { qos: 1 })
  }

  const supervisor = new Supervisor(bootstrap, log, (status) => {
    log(`status ${status}`)
    // The instance view after HEALTHY shows the volume's usage: measured now (a fresh data
    // dir walks in milliseconds), it saves the server a call to this agent right after.
    if (status === 'HEALTHY') void recentStats().then(heartbeat, heartbeat)
    else heartbeat()
  })

  // HA members (lease.ts): the primary's lease and fence; fast heartbeats for every member.
  const lease = new Lease(bootstrap.ha, { fence: () => supervisor.stopDb(), unfence: () => supervisor.restart() }, replicationViews(bootstrap), log, undefined, bootstrap.ejected !== undefined)
  supervisor.holdStart = () => lease.startsFenced()

  const archiving = new ArchiveKeeper(bootstrap, () => supervisor.datastore, log)
  // An HA member's engine settings (datastores/*/ha-settings.ts: short replication-link timeouts, Redis's AOF),
  // or the configured ones again out of a set: on each set_ha and each time the engine starts answering, one at a
  // time, in the supervisor's maintenance (no replication change meanwhile). A stopped engine fails it: logged;
  // its next start applies it.
  let haSettings: Promise<void> = Promise.resolve()
  const applyHaSettings = (): void => {
    haSettings = haSettings
      .then(async () => {
        const spec = lease.haSpec
        if (!supervisor.datastore?.haSettings) return
        const changed = await supervisor.maintenance((ds) => ds.haSettings!(spec ? linkTimeoutSeconds(spec) : undefined))
        if (changed) log(`ha: ${changed}`)
      })
      .catch((err: Error) => log(`ha settings: ${oneLine(err.message)}`))
  }
  supervisor.engineHooks = {
    answering: () => {
      void archiving.engineAnswering()
      applyHaSettings()
    },
    beforeStop: () => archiving.beforeEngineStop(),
  }

  let client: MqttClient | undefined
  let finish!: (code: number) => void
  const done = new Promise<number>((r) => (finish = r))
  let closing: Promise<void> | undefined
  const end = (code: number): Promise<void> =>
    (closing ??= (async () => {
      clearInterval(timer)
      clearInterval(leaseTimer)
      await archiving.close()
      supervisor.close()
      await closeDrivers()
      setObjectStore(undefined)
      if (client) await (await import('./connection.js')).endConnection(client)
      const owner = await readFile(pidFile, 'utf8').catch(() => '')
      if (owner.trim() === String(process.pid)) await rm(pidFile, { force: true })
      log(`agent stopped (exit code ${code})`)
      finish(code)
    })())

  // Backups: update_backup events go out like heartbeats (QoS 1, queued while offline).
  let lastBackupSent = 0
  const backups = new BackupRunner({
    storeDir: bootstrap.backupDir,
    maintenance: (fn) => supervisor.maintenance(fn),
    emit: (ev) => {
      lastBackupSent = Math.max(Date.now(), lastBackupSent + 1)
      client?.publish(agentEventTopic(id), encode({ kind: 'update_backup', sent: lastBackupSent, ...ev } satisfies AgentEvent), { qos: 1 })
    },
    log,
  })
  // GET /instances/{id} asks for the volume usage on each call: a walk of the data directory per call
  // cost CPU and up to 20 MB of RSS under load (issue 7). Calls within a second share one walk.
  // A volume that is a filesystem of its own (a sandbox's) is measured by statfs: its real size and free
  // space, cheap enough to go with every heartbeat (the server reports a full volume from it).
  const ownVolume = await isMountPoint(bootstrap.baseDir)
  const measureVolume = (): Promise<FilesystemStats> => (ownVolume ? volumeStats(bootstrap.baseDir) : filesystemStats(supervisor.paths.data, bootstrap.volumeSize))
  let stats: { at: number; volume: number; p: ReturnType<typeof filesystemStats>; value?: FilesystemStats } | undefined
  const recentStats = (): ReturnType<typeof filesystemStats> => {
    if (!stats || Date.now() - stats.at > 1000 || stats.volume !== bootstrap.volumeSize) {
      const p = measureVolume()
      const entry: NonNullable<typeof stats> = { at: Date.now(), volume: bootstrap.volumeSize, p }
      stats = entry
      p.then(
        (v) => (entry.value = v),
        () => {
          if (stats === entry) stats = undefined
        },
      )
    }
    return stats.p
  }
  /** The last measurement, while it is at most a second old (what recentStats would answer). */
  const freshStats = (): FilesystemStats | undefined => (stats?.value && Date.now() - stats.at <= 1000 && stats.volume === bootstrap.volumeSize ? stats.value : undefined)
  const rpc = new RpcDispatcher(
    agentMethods({
      prepare: () => supervisor.prepare(),
      stopDb: () => supervisor.stopDb(),
      restart: (timeoutMs) => supervisor.restart(timeoutMs),
      shutdown: () => supervisor.shutdown(),
      filesystemStats: recentStats,
      accounts: () => supervisor.accounts(),
      updateOverrides: (o, remove) => supervisor.updateOverrides(o, remove),
      applyOverrides: (o) => supervisor.applyOverrides(o),
      reconfigure: () => ({
        config: supervisor.config,
        maintenance: (fn, o) => supervisor.maintenance(fn, o),
        filesystemStats: measureVolume,
        log,
      }),
      guestLogs: supervisorLogs(supervisor, log),
      modules: new ModuleManager(bootstrap.baseDir, log),
      replication: () => supervisor,
      createBackup: (info) => backups.create(info),
      archiving: () => archiving,
      ha: {
        lease: () => lease,
        changed: () => {
          schedule()
          applyHaSettings()
        },
        ejected: (f, held) => supervisor.ejectedNow(f, held),
      },
    }),
    (reply: RpcReply) => new Promise<void>((res, rej) => client!.publish(agentReplyTopic(id), encodeReply(reply, log), { qos: 1 }, (err) => (err ? rej(err) : res()))),
    log,
    (req, reply) => {
      if (req.method === 'shutdown_agent' && reply.ok) void end(0)
    },
  )

  const beat = () => {
    Promise.all([
      supervisor.measure().catch((err: Error) => log(`measure: ${oneLine(err.message)}`)),
      ownVolume ? recentStats().catch((err: Error) => log(`volume: ${oneLine(err.message)}`)) : undefined,
    ]).finally(heartbeat)
  }
  let timer: NodeJS.Timeout | undefined
  let leaseTimer: NodeJS.Timeout | undefined
  // The period follows set_ha: an HA member heartbeats fast, and its lease is checked often.
  const schedule = () => {
    clearInterval(timer)
    clearInterval(leaseTimer)
    timer = setInterval(beat, Math.max(lease.heartbeatMs ?? bootstrap.heartbeatMs, 100))
    leaseTimer = lease.heartbeatMs === undefined ? undefined : setInterval(() => void lease.check().catch((err: Error) => log(`lease: ${oneLine(err.message)}`)), lease.checkMs)
  }
  schedule()

  // The engine's init/start runs in other processes, so start it first and connect to the
  // broker while they run (supervisor.quiet): create -> HEALTHY is measured.
  void supervisor.boot().catch((err: Error) => log(`boot: ${oneLine(err.message)}`))
  void (async () => {
    const { connectBroker } = await import('./connection.js')
    await supervisor.quiet
    if (closing) return
    client = connectBroker({
      instanceId: id,
      brokerFile: bootstrap.brokerFile,
      username: bootstrap.mqtt.username,
      password: bootstrap.mqtt.password,
      ...(bootstrap.mqtt.ca ? { ca: bootstrap.mqtt.ca } : {}),
      localAddress: bootstrap.address,
      log,
      onConnect: heartbeat,
      onMessage: (payload) => {
        if (closing) return
        rpc.handle(decode<RpcRequest>(payload)).catch((err: Error) => log(`rpc: ${oneLine(err.message)}`))
      },
    })
  })().catch((err: Error) => log(`broker: ${oneLine(err.message)}`))

  return { done, close: () => end(0) }
}

const USAGE = 'usage: trove agent --config FILE [--await-config] | --standby | --make-template --config FILE'

/** The modules an agent runs, loaded ahead of need (a standby's or a warm sandbox's wait). */
function preload(): Promise<unknown> {
  return Promise.all([import('./connection.js'), import('./datastores/redis/service.js'), import('./datastores/mariadb/service.js'), import('./datastores/postgresql/service.js')])
}

/**
 * `trove agent --config FILE --await-config`: the agent of a warm sandbox (server/compute/sandbox-warm.ts), started
 * before any instance is its: load everything, then wait until FILE exists (the server writes it whole, by a
 * rename, when a create takes the sandbox), then run as any agent. An inotify watch on its directory, and a
 * check every second in case the watch misses it (or cannot be made).
 */
async function awaitConfig(path: string): Promise<void> {
  await preload()
  const marker = join(dirname(path), INSTANCE_FILES.awaiting)
  await new Promise<void>((resolve) => {
    let watcher: FSWatcher | undefined
    const check = (): void => {
      if (!existsSync(path)) return
      watcher?.close()
      clearInterval(timer)
      resolve()
    }
    const timer = setInterval(check, 1000)
    try {
      watcher = watch(dirname(path), check)
      watcher.on('error', () => undefined)
    } catch {
      /* polled only */
    }
    // The server counts the sandbox warm from this file on (sandboxed.ts makeWarm).
    writeFileSync(marker, '', { mode: 0o600 })
    check()
  })
  rmSync(marker, { force: true })
}

/**
 * `trove agent --standby` (server/compute/standby.ts): load everything an agent runs,
 * then wait for one line on stdin, the path of a bootstrap; end of file first: exit.
 * Given a path, become the agent an ordinary spawn would have started: the process
 * title (the command line others read) says `--config PATH`, the working directory
 * is the instance's.
 */
async function awaitBootstrap(): Promise<string | undefined> {
  await preload()
  let text = ''
  for await (const chunk of process.stdin) {
    text += String(chunk)
    if (text.includes('\n')) break
  }
  process.stdin.destroy()
  const path = text.split('\n')[0]?.trim()
  if (!path || !isAbsolute(path)) return undefined
  process.title = [process.execPath, ...process.execArgv, process.argv[1], 'agent', '--config', path].join(' ')
  process.chdir(dirname(path))
  return path
}

/** CLI entry: `trove agent --config FILE`. Resolves with the exit code; never exits the process. */
export async function runAgent(argv: string[]): Promise<number> {
  let config: string | undefined
  let standby = false
  let awaiting = false
  let template = false
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    if (a === '--config') config = argv[++i]
    else if (a.startsWith('--config=')) config = a.slice('--config='.length)
    else if (a === '--standby') standby = true
    else if (a === '--await-config') awaiting = true
    else if (a === '--make-template') template = true
    else if (a.startsWith('--title-room=')) continue
    else {
      process.stderr.write(`unknown argument: ${a}\n${USAGE}\n`)
      return 2
    }
  }
  if (standby && !config) {
    config = await awaitBootstrap()
    if (!config) return 0
    const shown = await readFile('/proc/self/cmdline', 'utf8').catch(() => '')
    // Every check of "is this the instance's agent" reads the command line: one without the path would be a stray agent.
    if (!shown.includes(config)) {
      timestampedLog()(`agent: the process title could not take ${config} (${shown.length} bytes of room)`)
      return 1
    }
  }
  if (!config) {
    process.stderr.write(`missing --config\n${USAGE}\n`)
    return 2
  }
  if (template) return (await import('./template-maker.js')).makeTemplate(resolve(config))
  if (awaiting) await awaitConfig(resolve(config))
  let handle: AgentHandle
  try {
    handle = await startAgent(resolve(config))
  } catch (err) {
    timestampedLog()(`agent: ${oneLine((err as Error).message)}`)
    return 1
  }
  // The engine keeps running on SIGTERM/SIGINT, so a restarted agent re-adopts it.
  const onSignal = (): void => void handle.close()
  process.on('SIGTERM', onSignal)
  process.on('SIGINT', onSignal)
  try {
    return await handle.done
  } finally {
    process.off('SIGTERM', onSignal)
    process.off('SIGINT', onSignal)
  }
}
