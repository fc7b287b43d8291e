import type { DB } from './db/index.js'
import type { Instances } from './db/instances.js'
import type { IdentityStore } from './identity/store.js'
import type { AgentCredentials } from './broker/index.js'
import type { RpcClient } from './broker/rpc.js'
import type { Compute, Isolation } from './compute/compute.js'
import type { DetectedEngine } from './compute/engines.js'
import type { TaskEngine } from './tasks/engine.js'
import type { QuotaLimits, Quotas } from './quotas.js'
import type { RateLimiter, RateLimitRule } from './http/rate-limit.js'
import type { Notifier } from './notifications.js'

export interface LabConfig {
  dataDir: string
  host: string
  port: number
  region: string
  /** Upstream max_accepted_volume_size (GB). */
  maxVolumeSize: number
  /** How long a build may take before the instance goes to ERROR. */
  buildTimeoutMs: number
  /** Agent heartbeat period and the age after which a heartbeat is stale (upstream agent_heartbeat_expiry). */
  heartbeatMs: number
  heartbeatExpiryMs: number
  /**
   * Sets with automatic failover (ha/, docs/ha.md): their members' heartbeat period, the primary's
   * lease (from each acknowledged heartbeat's sending) and the margin the server adds before it promotes.
   */
  ha: { heartbeatMs: number; leaseMs: number; marginMs: number }
  runUser: string
  /** Page size cap for paginated lists (upstream *_page_size). */
  pageSize: number
  /** Quota of a project without overrides (upstream max_*_per_tenant); -1 = unlimited. */
  quotaDefaults: QuotaLimits
  /** Rate-limit rules per project (upstream's ratelimit filter); [] turns rate limiting off. */
  rateLimits: RateLimitRule[]
  /**
   * What new instances get (docs/isolation.md): `none`, every engine on a loopback address as the lab's
   * run user; `sandbox`, a runc sandbox, uid, volume and network namespace each (opt-in).
   */
  isolation: Isolation
  /** Every notification is also POSTed here (background, bounded time; failures logged). */
  notificationWebhook?: string
}

/** Everything routes and flows share; built once by buildServer(). */
export interface Lab {
  config: LabConfig
  db: DB
  identity: IdentityStore
  instances: Instances
  credentials: AgentCredentials
  compute: Compute
  rpc: RpcClient
  /** PEM of the lab's broker CA (broker/tls.ts), pinned in each agent's bootstrap. */
  brokerCa: string
  tasks: TaskEngine
  brokerFile: string
  log: (m: string) => void
  quotas: Quotas
  rateLimiter: RateLimiter
  /** The engines found on this host at start (what datastore versions can run). */
  engines: DetectedEngine[]
  /** Notifications (internals.md 5): stored, published on the broker, optionally POSTed. */
  notifications: Notifier
  /**
   * The replication sets' endpoints (endpoints/sets.ts), once the server has started them: `writerTo` moves a
   * set's writer endpoint to a member that has just been made writable (the eject flow, before the other
   * replicas follow it).
   */
  endpoints?: { writerTo(instanceId: string): Promise<void> }
  /** Backup schedules and retention (backups/scheduler.ts); its `now()` is the server's clock for them. */
  scheduler: {
    now(): Date
    /** A schedule or a retention changed: look again at when the next pass is due. */
    wake(): void
    /** One pass now: [schedule, execution] ids run, instances whose expiry was submitted. */
    tick(): { ran: Array<[string, string]>; expiring: string[]; archives: string[] }
  }
}
