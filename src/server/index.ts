import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { DEFAULT_RUN_USER, type AgentEvent, type BrokerLocation } from '../protocol/index.js'
import { openDatabase, type DB } from './db/index.js'
import { Instances } from './db/instances.js'
import { registerDatastores, seedFlavors } from './db/seed.js'
import { seedConfigurationParameters } from './configurations/parameter-seed.js'
import { IdentityStore } from './identity/store.js'
import { identityRoutes } from './routes/identity.js'
import { identityAdminRoutes } from './routes/identity-admin.js'
import { LoginGuard, type LoginThrottleOptions } from './identity/login-guard.js'
import { AgentCredentials, SubscriberCredentials, startBroker, type BrokerHandle, type BrokerLimits } from './broker/index.js'
import { RpcClient } from './broker/rpc.js'
import { ensureBrokerTls, type BrokerTls } from './broker/tls.js'
import { pinBrokerCa } from './broker/pin-ca.js'
import { LocalCompute } from './compute/local.js'
import { sandboxedInstanceIds } from './compute/sandbox-host.js'
import { SandboxedCompute } from './compute/sandboxed.js'
import type { Compute } from './compute/compute.js'
import { detectEngines, type DetectedEngine } from './compute/engines.js'
import { TaskEngine } from './tasks/engine.js'
import { CreateInstanceFlow } from './tasks/create-instance.js'
import { DeleteInstanceFlow } from './tasks/delete-instance.js'
import { RestartInstanceFlow } from './tasks/restart-instance.js'
import { RebootInstanceFlow } from './tasks/reboot-instance.js'
import { PromoteReplicaFlow } from './tasks/promote-replica.js'
import { EjectReplicaSourceFlow } from './tasks/eject-replica.js'
import { DetachReplicaFlow } from './tasks/detach-replica.js'
import { ResizeFlavorFlow, ResizeVolumeFlow, UpgradeInstanceFlow } from './tasks/resize-instance.js'
import { BackupInstanceFlow } from './tasks/backup-instance.js'
import { ExpireBackupsFlow } from './tasks/expire-backups.js'
import { ExpireArchiveFlow } from './tasks/expire-archive.js'
import { BackupScheduler } from './backups/scheduler.js'
import { InstanceTask } from './tasks/instance-tasks.js'
import { createHttp, baseUrl } from './http/server.js'
import { capConnections, defaultConnectionLimits, type ConnectionLimits } from './http/connections.js'
import { startObjectStore, type ObjectStoreHandle } from './object-store/endpoint.js'
import { tenantGuard } from './http/guard.js'
import { versionRoutes } from './routes/versions.js'
import { tenantRoutes } from './routes/index.js'
import { mistralRoutes } from './routes/mistral.js'
import { readCloudPasswords, writeClouds } from './clouds.js'
import { DEFAULT_QUOTAS, Quotas } from './quotas.js'
import { DEFAULT_RATE_LIMITS, RateLimiter, rateLimitHook } from './http/rate-limit.js'
import { DEFAULT_EXISTS_INTERVAL_MS, Notifier } from './notifications.js'
import { Reconciler } from './reconcile.js'
import { RejoinReplicaFlow } from './tasks/rejoin-replica.js'
import { EndpointSync } from './endpoints/sets.js'
import { HaMonitor } from './ha/monitor.js'
import { archiveStore } from './db/archives.js'
import { noteVolumeUsage } from './instances/volume-full.js'
import type { Lab, LabConfig } from './lab.js'
import { labReplicationSets } from './instances/replication-sets.js'
import { acquireLock, assertNotRunning, banner, checkRunUser, choosePort, DEFAULT_PORT, defaultDataDir, labIsolation, LabError, prepareDataDir, previousPort, writeState } from './lab-state.js'

export type { Lab, LabConfig } from './lab.js'
export { parseRateLimits } from './http/rate-limit.js'
export { DEFAULT_PORT, defaultDataDir, logFile, readState, banner, LabError, type LabState } from './lab-state.js'
export { startBackground, stopServer, resetLab, SERVER_ENV, SERVER_NODE_FLAGS, type ResetSummary, type StartOptions } from './lab-control.js'

export interface ServerOptions extends Partial<Omit<LabConfig, 'ha'>> {
  /** HA sets' heartbeat, lease and margin (ms; defaults 500, 2000, 1000): tests make them short. */
  ha?: Partial<LabConfig['ha']>
  /** Log sink (default: stderr with a timestamp). */
  log?: (m: string) => void
  /** Engines to offer; detected from the host when absent (tests may pass a subset). */
  engines?: DetectedEngine[]
  /**
   * false: start no agent processes (see LocalComputeOptions.spawnAgents): the API-only mode of tests and benches
   * whose agents are simulated. Such a lab runs `isolation: 'none'` whatever TROVE_ISOLATION says (a sandbox is made
   * to run its agent), and asking for both is refused.
   */
  spawnAgents?: boolean
  /** false: no agent started ahead of the next create (compute/standby.ts). */
  standbyAgent?: boolean
  /**
   * Where agents keep pre-initialised data dirs (agent/template-cache.ts; default DIR/templates,
   * else TROVE_TEMPLATES_DIR). Labs that share one (a test suite's) initialise each engine once.
   */
  templatesDir?: string
  /**
   * Under `isolation: 'sandbox'`: a dir of root's (0700) where MariaDB's and PostgreSQL's sandbox templates
   * are kept and shared with other labs of this host (compute/sandbox-template.ts; default DIR/sandbox/templates,
   * the lab's own, made again in each run; else TROVE_SANDBOX_TEMPLATES_DIR). A test suite's labs then build each once.
   */
  sandboxTemplatesDir?: string
  /**
   * Under `isolation: 'sandbox'`: network namespaces and 1 GB volumes kept ready, of each, for the next creates
   * (compute/sandbox-pool.ts; default TROVE_SANDBOX_POOL, else 2); 0 turns the pools off.
   */
  sandboxPool?: number
  /** Warm sandboxes kept (sandbox-warm.ts; default 1 while the pools are on, at most WARM_MAX); 0: none. */
  sandboxWarm?: number
  /** false: apply no cgroup limits (default: on unless TROVE_CGROUPS=0). */
  cgroups?: boolean
  /** Reconciliation period (ms; default TROVE_RECONCILE_MS or 10 s); 0 turns periodic passes off. */
  reconcileMs?: number
  /** How often the replication sets' endpoints are synced with the records (ms; default 1000). */
  endpointSyncMs?: number
  /** `trove.instance.exists` period (ms; default TROVE_EXISTS_INTERVAL_MS or 3600 s); 0 turns it off. */
  existsIntervalMs?: number
  /** `dbaas.quota` period (ms; default TROVE_QUOTA_NOTIFICATION_INTERVAL_MS, else off). */
  quotaNotificationIntervalMs?: number
  /** Password login throttle (identity/login-guard.ts; default DEFAULT_LOGIN_THROTTLE). */
  loginThrottle?: Partial<LoginThrottleOptions>
  /** Caps and timeouts of API connections (http/connections.ts; default defaultConnectionLimits()). */
  connectionLimits?: Partial<ConnectionLimits>
  /** The broker's packet and per-source limits (defaults: broker/limits.ts). */
  brokerLimits?: BrokerLimits
  /** The rate limiter's clock, monotonic ms (default performance.now()); tests move it themselves. */
  rateLimitClock?: () => number
  /** The clock of backup schedules and retention (default the real one); tests move it themselves. */
  clock?: () => Date
  /** The backup scheduler's longest sleep (ms; default 30 s); 0: no timer, passes only through lab.scheduler.tick(). */
  backupSchedulerMs?: number
}

export interface TroveServer {
  lab: Lab
  http: FastifyInstance
  /** Listens, starts the broker and resumes unfinished work; resolves with the bound URL. */
  start(): Promise<{ url: string; brokerPort: number; cloudsFile: string; createdPasswords: boolean }>
  close(): Promise<void>
}

/** Wires database, identity, broker, compute, tasks and HTTP without listening (CONVENTIONS 11). */
export async function buildServer(opts: ServerOptions = {}): Promise<TroveServer> {
  const log = opts.log ?? ((m: string) => process.stderr.write(`${new Date().toISOString()} ${m}\n`))
  const config: LabConfig = {
    dataDir: resolve(opts.dataDir ?? defaultDataDir()),
    host: opts.host ?? '127.0.0.1',
    port: opts.port ?? DEFAULT_PORT,
    region: opts.region ?? 'RegionOne',
    maxVolumeSize: opts.maxVolumeSize ?? 10,
    buildTimeoutMs: opts.buildTimeoutMs ?? 180_000,
    heartbeatMs: opts.heartbeatMs ?? 5_000,
    heartbeatExpiryMs: opts.heartbeatExpiryMs ?? 30_000,
    ha: { heartbeatMs: 500, leaseMs: 2_000, marginMs: 1_000, ...opts.ha },
    runUser: opts.runUser ?? DEFAULT_RUN_USER,
    pageSize: opts.pageSize ?? 20,
    quotaDefaults: { ...DEFAULT_QUOTAS, ...opts.quotaDefaults },
    rateLimits: [...(opts.rateLimits ?? DEFAULT_RATE_LIMITS)],
    isolation: labIsolation(opts),
    ...(opts.notificationWebhook ? { notificationWebhook: opts.notificationWebhook } : {}),
  }
  prepareDataDir(config.dataDir)

  // Sandboxed instances are the sandboxed driver's alone: the local one would remove their directories
  // through their mounted volumes and knows nothing of their namespaces, uids or sandboxes.
  const sandboxed = config.isolation === 'none' ? sandboxedInstanceIds(join(config.dataDir, 'instances')) : []
  if (sandboxed.length) {
    throw new LabError(`this lab has ${sandboxed.length} sandboxed instance(s) (e.g. ${sandboxed[0]}): it cannot run with --isolation none`, 'trove server --isolation sandbox')
  }
  const db: DB = openDatabase(join(config.dataDir, 'trove.db'))
  seedFlavors(db)
  const engines = opts.engines ?? (await detectEngines())
  registerDatastores(db, engines)
  seedConfigurationParameters(db)

  const identity = new IdentityStore(db)
  const instances = new Instances(db)
  const cgroups = opts.cgroups ?? !['0', 'off', 'false'].includes(process.env.TROVE_CGROUPS ?? '')
  const templatesDir = opts.templatesDir ?? process.env.TROVE_TEMPLATES_DIR
  const computeOptions = { dataDir: config.dataDir, log, spawnAgents: opts.spawnAgents, cgroups, ...(templatesDir ? { templatesDir: resolve(templatesDir) } : {}) }
  const sandboxTemplatesDir = opts.sandboxTemplatesDir ?? process.env.TROVE_SANDBOX_TEMPLATES_DIR
  const compute: Compute =
    config.isolation === 'sandbox'
      ? new SandboxedCompute({
          ...computeOptions,
          ...(sandboxTemplatesDir ? { sandboxTemplatesDir: resolve(sandboxTemplatesDir) } : {}),
          ...(opts.sandboxPool !== undefined ? { poolSize: opts.sandboxPool } : {}),
          ...(opts.sandboxWarm !== undefined ? { warmSize: opts.sandboxWarm } : {}),
        })
      : new LocalCompute({ ...computeOptions, standbyAgent: opts.standbyAgent !== false })
  const tasks = new TaskEngine(db, log)
  const brokerFile = join(config.dataDir, 'broker.json')
  let broker: BrokerHandle | undefined
  let rpc: RpcClient | undefined
  let brokerTls: BrokerTls | undefined
  let objectStore: ObjectStoreHandle | undefined
  let scheduler: BackupScheduler | undefined

  const lab: Lab = {
    config,
    db,
    identity,
    instances,
    compute,
    tasks,
    brokerFile,
    log,
    engines,
    quotas: new Quotas(db, config.quotaDefaults),
    rateLimiter: new RateLimiter(config.rateLimits, opts.rateLimitClock),
    credentials: new AgentCredentials(db),
    notifications: new Notifier({ db, log, host: config.host, region: config.region, webhook: config.notificationWebhook, faults: instances }),
    get rpc(): RpcClient {
      if (!rpc) throw new Error('server not started')
      return rpc
    },
    get brokerCa(): string {
      if (!brokerTls) throw new Error('server not started')
      return brokerTls.ca
    },
    get scheduler() {
      if (!scheduler) throw new Error('server not built')
      return scheduler
    },
  }
  // The packet filter lets the members of a replication set reach each other (sandboxed labs).
  compute.followReplicationSets?.(() => labReplicationSets(lab))
  const clock = opts.clock ?? (() => new Date())
  scheduler = new BackupScheduler(lab, clock, opts.backupSchedulerMs ?? 30_000)
  const create = new CreateInstanceFlow(lab)
  tasks.register(create)
  tasks.register(new DeleteInstanceFlow(lab))
  tasks.register(new RestartInstanceFlow(lab))
  tasks.register(new RebootInstanceFlow(lab))
  // Replication (promote, eject, detach; replicas are built by the create flow).
  tasks.register(new PromoteReplicaFlow(lab))
  tasks.register(new EjectReplicaSourceFlow(lab))
  tasks.register(new DetachReplicaFlow(lab))
  const rejoin = new RejoinReplicaFlow(lab)
  tasks.register(rejoin)
  tasks.register(new ResizeFlavorFlow(lab))
  tasks.register(new ResizeVolumeFlow(lab))
  tasks.register(new UpgradeInstanceFlow(lab))
  const backupFlow = new BackupInstanceFlow(lab)
  tasks.register(backupFlow)
  tasks.register(new ExpireBackupsFlow(lab, clock))
  tasks.register(new ExpireArchiveFlow(lab, clock))
  // Reservations of API calls the last run died in would hold their usage forever.
  const interrupted = lab.quotas.rollbackOpen()
  if (interrupted) log(`rolled back ${interrupted} quota reservation(s) of requests interrupted by the last shutdown`)

  const archives = archiveStore(db)
  const onAgentEvent = (id: string, ev: AgentEvent) => {
    if (ev.kind === 'update_backup') return backupFlow.onAgentEvent(id, ev)
    if (ev.kind !== 'heartbeat') return
    if (!instances.heartbeat(id, ev.status, ev.sent, ev.agentPid ?? null, ev.enginePid ?? null, ev.volume)) return
    ha?.onHeartbeat(id, ev.sent, ev.status)
    if (ev.archive) archives.record(id, ev.archive)
    // The heartbeat's figures, as the usage check above accepted them (an agent's word).
    noteVolumeUsage(lab, id, ev.volume && instances.recentUsage(id, 1000))
    create.onAgentEvent(id, ev)
    rejoin.onAgentEvent(id, ev)
  }

  const http = createHttp(log, opts.connectionLimits)
  await http.register(versionRoutes)
  const logins = new LoginGuard(opts.loginThrottle, log)
  await http.register(async (app) => {
    await identityRoutes(app, { store: identity, baseUrl, region: config.region, logins })
    await identityAdminRoutes(app, { store: identity, baseUrl })
  })
  await http.register(
    async (app) => {
      app.addHook('preHandler', tenantGuard(lab))
      app.addHook('preHandler', rateLimitHook(lab.rateLimiter))
      await app.register(tenantRoutes, { lab })
    },
    { prefix: '/v1.0/:tenant' },
  )
  // The Mistral v2 subset of the legacy client's schedule commands (catalog type workflowv2).
  await http.register(mistralRoutes, { prefix: '/mistral/v2', lab })
  // Paths with no project segment fail the tenant check upstream (api.md 1), after authentication.
  http.get('/v1.0', { preHandler: tenantGuard(lab) }, async () => ({}))

  let started = false
  let reconciler: Reconciler | undefined
  let endpoints: EndpointSync | undefined
  let ha: HaMonitor | undefined
  let closing: Promise<void> | undefined
  return {
    lab,
    http,
    async start() {
      const previous = existsSync(brokerFile) ? (JSON.parse(readFileSync(brokerFile, 'utf8')) as BrokerLocation & { gateway?: BrokerLocation; store?: BrokerLocation }) : undefined
      // A sandboxed lab's agents dial the broker on the lab bridge's gateway, from their own namespaces.
      const gateway =
        compute instanceof SandboxedCompute
          ? await compute.prepareLab().catch((e: Error) => {
              throw new LabError(e.message, (e as Error & { hint?: string }).hint ?? 'trove server --isolation none')
            })
          : undefined
      // The lab's CA (made at the first start) and the broker's certificate for the addresses agents dial.
      brokerTls = ensureBrokerTls(join(config.dataDir, 'tls'), gateway ? [config.host, gateway] : [config.host])
      broker = await startBroker({
        db,
        host: config.host,
        tls: brokerTls,
        preferredPort: previous?.port,
        log,
        limits: opts.brokerLimits,
        maxConnections: opts.connectionLimits?.total,
        ...(gateway ? { extraHosts: [{ host: gateway, preferredPort: previous?.gateway?.host === gateway ? previous.gateway.port : undefined }] } : {}),
      })
      const gatewayLocation = gateway ? { host: gateway, port: broker.extraPorts[gateway]! } : undefined
      // Sandboxed agents' backups and published logs stream through the server's object store on the gateway.
      if (gateway) {
        objectStore = await startObjectStore({ lab, host: gateway, port: previous?.store?.host === gateway ? previous.store.port : undefined, tls: brokerTls, log })
        capConnections(objectStore.server as never, { ...defaultConnectionLimits(), ...opts.connectionLimits }, (m) => log(`object store: ${m}`))
      }
      const storeLocation = gateway && objectStore ? { host: gateway, port: objectStore.port } : undefined
      writeFileSync(
        brokerFile,
        JSON.stringify({ host: config.host, port: broker.port, ...(gatewayLocation ? { gateway: gatewayLocation } : {}), ...(storeLocation ? { store: storeLocation } : {}) }),
        { mode: 0o644 },
      )
      if (gatewayLocation && compute instanceof SandboxedCompute) await compute.setBroker(gatewayLocation, storeLocation)
      rpc = new RpcClient(broker.broker, log)
      lab.notifications.attach(broker.broker)
      // External notification subscribers: read-only MQTT credential in DIR/notifications.json (0600).
      new SubscriberCredentials(db).ensure(join(config.dataDir, 'notifications.json'), { host: config.host, port: broker.port, ca: brokerTls.caFile })
      await rpc.start(onAgentEvent)

      await http.listen({ host: config.host, port: config.port })
      const addr = http.server.address() as { port: number }
      const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${addr.port}`

      const cloudsFile = join(config.dataDir, 'clouds.yaml')
      let pw = identity.bootstrap()
      const createdPasswords = pw !== undefined
      pw ??= readCloudPasswords(cloudsFile) ?? identity.resetLabPasswords()
      writeClouds(cloudsFile, `${url}/identity/v3`, config.region, pw)

      // Bootstraps from before TLS (or from a lost CA) get the CA pinned, their agents a restart.
      const restarted = new Set(await pinBrokerCa({ ca: brokerTls.ca, instances, compute, log, spawnAgents: opts.spawnAgents !== false }))
      // Pick up what the last run left: claims, dead agents of live instances, unfinished flows.
      for (const inst of instances.listAll()) {
        if (inst.address && !compute.reclaim(inst.id, inst.address)) log(`instance ${inst.id}: address ${inst.address} is claimed by another lab`)
        // (A just restarted agent may not have written agent.pid yet.)
        if (opts.spawnAgents !== false && !restarted.has(inst.id) && inst.task_id === InstanceTask.NONE.id && compute.hasBootstrap(inst.id) && !compute.agentAlive(inst.id)) {
          log(`instance ${inst.id}: agent not running, starting it`)
          await compute.spawnAgent(inst.id)
        }
      }
      tasks.resumeAll()
      // Backup schedules: a schedule due while the server was down runs once now.
      scheduler?.start()
      // Reconciliation (reconcile.ts): at start and then periodically.
      const reconcileMs = opts.reconcileMs ?? (Number(process.env.TROVE_RECONCILE_MS) || 10_000)
      reconciler = new Reconciler(lab, { spawnAgents: opts.spawnAgents })
      if (reconcileMs > 0) reconciler.start(reconcileMs)
      // The replication sets' endpoints (endpoints/sets.ts): at start and then every second.
      endpoints = new EndpointSync(lab)
      endpoints.start(opts.endpointSyncMs ?? 1000)
      // Automatic failover (ha/monitor.ts): leases, detection, failover; the endpoints move at once.
      const sync = endpoints
      lab.endpoints = { writerTo: (id) => sync.writerTo(id) }
      ha = new HaMonitor(lab, { syncEndpoints: () => sync.syncNow(), writerMovedAt: (id) => sync.writerMovedAt(id) })
      ha.start()
      const envMs = (name: string) => (process.env[name] !== undefined && process.env[name] !== '' ? Number(process.env[name]) : undefined)
      lab.notifications.startPeriodic({
        existsMs: opts.existsIntervalMs ?? envMs('TROVE_EXISTS_INTERVAL_MS') ?? DEFAULT_EXISTS_INTERVAL_MS,
        quotaMs: opts.quotaNotificationIntervalMs ?? envMs('TROVE_QUOTA_NOTIFICATION_INTERVAL_MS') ?? 0,
        instances: () => instances.listAll(),
        quotaUsage: (tenantId) => lab.quotas.usage(tenantId),
      })
      started = true
      compute.startStandby?.()
      return { url, brokerPort: broker.port, cloudsFile, createdPasswords }
    },
    // The reverse of start: first no new request (those in flight finish, and may submit
    // tasks), then the task engine, then the bus and the database that tasks use.
    close() {
      // Once: a second close (a test's teardown after the test closed it) waits for the first.
      closing ??= (async () => {
        scheduler?.stop()
        reconciler?.stop()
        await ha?.stop()
        await endpoints?.stop()
        lab.notifications.stopPeriodic()
        instances.changes.close() // long polls answer now: http.close() waits for requests in flight
        if (started) await http.close()
        await tasks.close()
        create.close()
        lab.notifications.attach(undefined)
        rpc?.close()
        await compute.close?.()
        await objectStore?.close()
        await broker?.close()
        db.close()
      })()
      return closing
    },
  }
}

/**
 * `trove server`: runs until SIGTERM/SIGINT; instances keep running. One server per data
 * dir (DIR/server.pid); a taken default port moves to a free one, a taken explicit port is
 * refused. Every refusal comes before anything starts; a failed start closes what it opened.
 */
export async function runServer(opts: ServerOptions & { out?: (s: string) => void; explicitPort?: boolean }): Promise<number> {
  const out = opts.out ?? ((s: string) => process.stdout.write(s))
  const dataDir = resolve(opts.dataDir ?? defaultDataDir())
  const host = opts.host ?? '127.0.0.1'
  assertNotRunning(dataDir)
  checkRunUser(opts.runUser ?? DEFAULT_RUN_USER)
  const { port, note } = await choosePort(host, opts.explicitPort ? opts.port : undefined, previousPort(dataDir))
  labIsolation(opts) // its refusals before the lock makes the data dir
  // SIGTERM/SIGINT handled from before the lock on: one during the start stops the server once it has started (nothing
  // half made), and one sent as soon as the lock file or the banner is seen finds the handler there. Installed after the
  // banner, it came too late for a supervisor that signals when it reads the banner's first lines (under coverage: killed).
  let stopRequested = false
  let wake: (() => void) | undefined
  const unhandled = () => {
    process.off('SIGTERM', stop)
    process.off('SIGINT', stop)
  }
  const stop = () => {
    unhandled()
    stopRequested = true
    wake?.()
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
  let release: () => void
  try {
    release = acquireLock(dataDir)
  } catch (e) {
    unhandled()
    throw e
  }
  let server: TroveServer | undefined
  let started: Awaited<ReturnType<TroveServer['start']>>
  try {
    server = await buildServer({ ...opts, dataDir, host, port })
    started = await server.start()
  } catch (e) {
    unhandled()
    await server?.close().catch(() => undefined)
    release()
    throw e
  }
  const state = {
    pid: process.pid,
    url: started.url,
    host,
    port: Number(new URL(started.url).port),
    dataDir,
    cloudsFile: started.cloudsFile,
    brokerPort: started.brokerPort,
    startedAt: new Date().toISOString(),
    limits: server.lab.compute.limitsText(),
    isolation: server.lab.config.isolation,
  }
  writeState(dataDir, state)
  if (note) server.lab.log(note)
  if (!server.lab.engines.length) server.lab.log('no database engine found (mariadb, postgresql, redis): instances cannot be created; run bash scripts/setup.sh')
  out(banner(state))
  if (!stopRequested) await new Promise<void>((done) => (wake = done))
  server.lab.log('shutting down (instances keep running)')
  await server.close()
  release()
  return 0
}
