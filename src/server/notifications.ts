import { randomUUID } from 'node:crypto'
import { hostname } from 'node:os'
import type { Aedes } from 'aedes'
import type { FastifyRequest } from 'fastify'
import { notificationTopic } from '../protocol/index.js'
import type { DB } from './db/index.js'
import { isoNow } from './db/index.js'
import type { InstanceJoined } from './db/instances.js'
import { flavors, type Flavors } from './db/flavors.js'
import { NotificationStore } from './db/notifications.js'
import { instanceStatus } from './instances/status.js'

/**
 * Notifications (internals.md 5, upstream trove/common/notification.py). Each event is
 * written to SQLite, published in-process on the broker at notificationTopic(event)
 * with QoS 1, and, when a webhook is configured, POSTed to it in the background
 * (bounded time, failures logged). Nothing here throws into a flow or a route, and
 * nothing is awaited: a notification never slows down or breaks the work it reports.
 *
 * The message is oslo.messaging's notification body: message_id, publisher_id
 * (`<service>.<host>`), event_type, priority (INFO, ERROR for `.error`), payload,
 * timestamp (Python's `str(datetime.utcnow())` form).
 *
 * API action events `dbaas.<event>.start|end|error`: the API sends `.start` with the
 * base traits (tenant_id, client_ip, server_ip, server_type, request_id) and the
 * event's start traits; the component that finishes the work sends `.end`/`.error`
 * with the same request's traits. Upstream carries the start's traits to the
 * taskmanager in the RPC context; here the `.end` reads them back from the stored
 * `.start` of the same instance (same result, no change to task payloads).
 * Usage events `trove.instance.create|delete` (publisher taskmanager) carry the
 * instance's usage payload.
 */

export type NotificationPriority = 'INFO' | 'ERROR'

export interface NotificationMessage {
  message_id: string
  publisher_id: string
  event_type: string
  priority: NotificationPriority
  payload: Record<string, unknown>
  timestamp: string
}

export interface NotifierOptions {
  db: DB
  log: (m: string) => void
  /** The API's address (server_ip trait). */
  host: string
  region: string
  /** POST every notification here (JSON body = the message). */
  webhook?: string
  webhookTimeoutMs?: number
  /** Where an `.error` of an instance's action is recorded (upstream writes instance_faults). */
  faults?: { addFault(id: string, message: string, details?: string | null): void }
}

/** Periodic events (internals.md 5 A and C); an interval of 0 (or absent) turns one off. */
export interface PeriodicNotifications {
  /** `trove.instance.exists` for every instance, every this many ms (upstream exists_notification_interval, 3600 s). */
  existsMs?: number
  /** `dbaas.quota` for every project's quota, every this many ms (upstream quota_notification_interval, off). */
  quotaMs?: number
  /** Instances alive now (the exists events). */
  instances: () => InstanceJoined[]
  /** A project's quota usage (the quota events). */
  quotaUsage: (tenantId: string) => Array<{ resource: string; in_use: number; reserved: number; limit: number }>
}

/** Upstream's exists_notification_interval (seconds → ms). */
export const DEFAULT_EXISTS_INTERVAL_MS = 3_600_000

/** Upstream's notification_service_id defaults: a fixed UUID per datastore. */
const SERVICE_IDS: Record<string, string> = {
  mysql: '2f3ff068-2bfb-4f70-9a9d-a6bb65bc084b',
  percona: 'fd1723f5-68d2-409c-994f-a4a197892a17',
  pxc: '75a628c3-f81b-4ffb-b10a-4087c26bc854',
  redis: 'b216ffc5-1947-456c-a4cf-70f94c05f7d0',
  cassandra: '459a230d-4e97-4344-9067-2a54a310b0ed',
  couchbase: 'fa62fe68-74d9-4779-a24e-36f19602c415',
  mongodb: 'c8c907af-7375-456f-b929-b637ff9209ee',
  postgresql: 'ac277e0d-4f21-40aa-b347-1ea31e571720',
  couchdb: 'f0a9ab7b-66f7-4352-93d7-071521d44c7c',
  vertica: 'a8d805ae-a3b2-c4fd-gb23-b62cee5201ae', // sic: upstream's default is not valid hex
  db2: 'e040cd37-263d-4869-aaa6-c62aa97523b5',
  mariadb: '7a4f82cc-10d2-4bc6-aadc-d9aacc2a3cb5',
}

const MAX_WEBHOOKS_IN_FLIGHT = 64

/** `2019-12-23 20:53:38.123456`: Python's str(datetime.utcnow()). */
function pythonUtcNow(d = new Date()): string {
  return `${d.toISOString().slice(0, 23).replace('T', ' ')}000`
}

/** `2019-12-23T20:53:38`: upstream's utils.isotime() form of the audit period bounds. */
function isoSeconds(d: Date): string {
  return `${d.toISOString().slice(0, 19)}Z`
}

export class Notifier {
  private broker: Aedes | undefined
  private webhooksInFlight = 0
  private readonly host = hostname()
  private readonly store: NotificationStore
  private readonly flavors: Flavors
  private timers: NodeJS.Timeout[] = []

  constructor(private readonly o: NotifierOptions) {
    this.store = new NotificationStore(o.db)
    this.flavors = flavors(o.db)
  }

  /** The broker notifications go out on, once it runs (in-process subscribers: aedes.subscribe). */
  get bus(): Aedes | undefined {
    return this.broker
  }

  /** The broker to publish on (set once it runs; before that, events are only stored and POSTed). */
  attach(broker: Aedes | undefined): void {
    this.broker = broker
  }

  /** Records and sends one event. Never throws. */
  emit(eventType: string, payload: Record<string, unknown>, o: { service?: string; priority?: NotificationPriority; instanceId?: string } = {}): NotificationMessage | undefined {
    try {
      const msg: NotificationMessage = {
        message_id: randomUUID(),
        publisher_id: `${o.service ?? 'taskmanager'}.${this.host}`,
        event_type: eventType,
        priority: o.priority ?? 'INFO',
        payload,
        timestamp: pythonUtcNow(),
      }
      const text = JSON.stringify(msg)
      const requestId = typeof payload.request_id === 'string' ? payload.request_id : null
      this.store.insert(msg.message_id, eventType, msg.publisher_id, msg.priority, JSON.stringify(payload), isoNow(), o.instanceId ?? null, requestId)
      this.broker?.publish({ cmd: 'publish', topic: notificationTopic(eventType), payload: Buffer.from(text), qos: 1, retain: false, dup: false }, (err) => {
        if (err) this.o.log(`notification ${eventType}: broker publish failed: ${err.message}`)
      })
      this.post(eventType, text)
      return msg
    } catch (e) {
      this.o.log(`notification ${eventType} not sent: ${(e as Error).message}`)
      return undefined
    }
  }

  private post(eventType: string, text: string): void {
    const url = this.o.webhook
    if (!url) return
    if (this.webhooksInFlight >= MAX_WEBHOOKS_IN_FLIGHT) {
      this.o.log(`notification ${eventType}: webhook ${url} is backed up (${MAX_WEBHOOKS_IN_FLIGHT} in flight); dropped`)
      return
    }
    this.webhooksInFlight++
    fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: text, signal: AbortSignal.timeout(this.o.webhookTimeoutMs ?? 3000) })
      .then(
        async (r) => {
          await r.body?.cancel()
          if (!r.ok) this.o.log(`notification ${eventType}: webhook ${url} answered ${r.status}`)
        },
        (e: Error) => this.o.log(`notification ${eventType}: webhook ${url} failed: ${e.message}`),
      )
      .finally(() => {
        this.webhooksInFlight--
      })
  }

  // ------------------------------------------------------------ API action events

  /** `dbaas.<event>.start`, sent by the API for the request `req`. */
  start(req: FastifyRequest | { tenantId: string }, event: string, instanceId: string | undefined, traits: Record<string, unknown>): void {
    // No request: the server started the work itself (a backup schedule), as upstream's periodic tasks do.
    if ('tenantId' in req) {
      this.emit(`dbaas.${event}.start`, { tenant_id: req.tenantId, client_ip: null, server_ip: this.o.host, server_type: 'taskmanager', request_id: null, ...traits }, { instanceId })
      return
    }
    this.emit(`dbaas.${event}.start`, { ...this.apiTraits(req), ...traits }, { service: 'api', instanceId })
  }

  /** `.start` then `.end` for work the API finishes itself (configuration groups). */
  sync(req: FastifyRequest, event: string, startTraits: Record<string, unknown>, endTraits: Record<string, unknown> = {}): void {
    this.start(req, event, undefined, startTraits)
    this.emit(`dbaas.${event}.end`, { ...this.apiTraits(req), ...startTraits, ...endTraits }, { service: 'api' })
  }

  /** `.end` (no failure) or `.error` of an instance flow, with the traits of the `.start` that began it (plus `endTraits`, e.g. backup_id). */
  end(event: string, instanceId: string, failure?: Error | string, endTraits: Record<string, unknown> = {}): void {
    const traits = { ...this.startTraits(event, instanceId), server_type: 'taskmanager', instance_id: instanceId, ...endTraits }
    if (failure === undefined) {
      this.emit(`dbaas.${event}.end`, traits, { instanceId })
    } else {
      const message = typeof failure === 'string' ? failure : failure.message
      // Upstream sends the traceback's lines; a lab flow has only its message.
      this.emit(`dbaas.${event}.error`, { ...traits, message, exception: [message] }, { priority: 'ERROR', instanceId })
    }
  }

  /**
   * Work the API finishes itself on an instance (upstream's `with StartNotification`
   * around a synchronous guest call or a database write): `.start` now, then `.end`
   * when `work` resolves, or `.error` (message, exception) and an instance fault when
   * it throws; the error is rethrown unchanged, so the route answers as before.
   */
  async action<T>(req: FastifyRequest, event: string, instanceId: string, traits: Record<string, unknown>, work: () => T | Promise<T>): Promise<T> {
    this.start(req, event, instanceId, traits)
    const base = { ...this.apiTraits(req), ...traits }
    let result: T
    try {
      result = await work()
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e)
      this.emit(`dbaas.${event}.error`, { ...base, instance_id: instanceId, message, exception: [message] }, { service: 'api', priority: 'ERROR', instanceId })
      // A client's mistake (a 4xx fault: a duplicate name, a user that does not exist) says
      // nothing about the instance, so only failures of the work itself (the guest failing)
      // are recorded as its fault; upstream records every error, which leaves a typo shown
      // as the fault of an ACTIVE instance.
      const { status, guestFailure } = e as { status?: unknown; guestFailure?: boolean }
      try {
        if (guestFailure || !(typeof status === 'number' && status >= 400 && status < 500)) this.o.faults?.addFault(instanceId, message, null)
      } catch (f) {
        this.o.log(`notification ${event}: instance fault not recorded: ${(f as Error).message}`)
      }
      throw e
    }
    this.emit(`dbaas.${event}.end`, base, { service: 'api', instanceId })
    return result
  }

  // ------------------------------------------------------------ usage events

  /** The guest is ACTIVE: `trove.instance.create` and `dbaas.instance_create.end`. */
  instanceCreated(inst: InstanceJoined | undefined): void {
    if (!inst) return
    this.emit('trove.instance.create', this.usage(inst), { instanceId: inst.id })
    this.end('instance_create', inst.id)
  }

  /** The instance is gone: `trove.instance.delete` and `dbaas.instance_delete.end`. */
  instanceDeleted(inst: InstanceJoined | undefined): void {
    if (!inst) return
    this.emit('trove.instance.delete', { ...this.usage(inst), deleted_at: inst.deleted_at ?? isoNow() }, { instanceId: inst.id })
    this.end('instance_delete', inst.id)
  }

  /** Upstream's base usage payload (TroveInstanceCreate & co). */
  usage(inst: InstanceJoined): Record<string, unknown> {
    const flavor = this.flavors.get(inst.flavor_id)
    const launched = this.store.launchedAt(inst.id)
    // Upstream: the API status, lower-cased (instance.status.lower()).
    const state = inst.deleted ? 'deleted' : instanceStatus(inst).toLowerCase()
    return {
      created_at: inst.created,
      name: inst.name,
      instance_id: inst.id,
      instance_name: inst.name,
      instance_type_id: inst.flavor_id,
      launched_at: launched ?? isoNow(),
      nova_instance_id: inst.id, // the lab's "server" is the instance's agent
      region: inst.region_id,
      state_description: state,
      state,
      tenant_id: inst.tenant_id,
      user_id: null,
      instance_type: flavor?.name ?? null,
      instance_size: flavor?.ram ?? null,
      availability_zone: null,
      service_id: SERVICE_IDS[inst.ds_name ?? ''] ?? null,
      ...(inst.volume_size ? { volume_size: inst.volume_size, nova_volume_id: null } : {}),
    }
  }

  /** `dbaas.instance_create.start` for the new instance `id` (its row written) and the request body. */
  instanceCreateStarted(req: FastifyRequest, inst: InstanceJoined | undefined, body: { databases?: Array<{ name: string }>; users?: Array<{ name: string }> }): void {
    if (!inst) return
    this.start(req, 'instance_create', inst.id, {
      name: inst.name,
      flavor_id: inst.flavor_id,
      datastore: inst.ds_name,
      datastore_version: inst.dsv_name,
      image_id: null,
      availability_zone: null,
      region_name: inst.region_id,
      volume_size: inst.volume_size,
      // Upstream sends the names, never the passwords.
      ...(body.databases?.length ? { databases: body.databases.map((d) => d.name).join(', ') } : {}),
      ...(body.users?.length ? { users: body.users.map((u) => u.name).join(', ') } : {}),
    })
  }

  // ------------------------------------------------------------ periodic events

  /** `trove.instance.exists` for every instance alive now, over the audit period that ends now. */
  instancesExist(instances: InstanceJoined[], periodMs: number): void {
    const end = new Date()
    const audit = { audit_period_beginning: isoSeconds(new Date(end.getTime() - periodMs)), audit_period_ending: isoSeconds(end) }
    for (const inst of instances) {
      try {
        this.emit('trove.instance.exists', { ...this.usage(inst), ...audit, display_name: inst.name }, { instanceId: inst.id })
      } catch (e) {
        this.o.log(`notification trove.instance.exists for ${inst.id} not sent: ${(e as Error).message}`)
      }
    }
  }

  /** `dbaas.quota` for every resource of every project that has a quota or a usage. */
  quotas(usage: PeriodicNotifications['quotaUsage']): void {
    try {
      const tenants = this.store.quotaTenants()
      for (const tenantId of tenants) {
        for (const q of usage(tenantId)) {
          const updated = this.store.quotaUsageUpdated(tenantId, q.resource) ?? null
          this.emit('dbaas.quota', { tenant_id: tenantId, resource: q.resource, in_use: q.in_use, reserved: q.reserved, limit: q.limit, updated })
        }
      }
    } catch (e) {
      this.o.log(`notification dbaas.quota not sent: ${(e as Error).message}`)
    }
  }

  /** Starts the periodic events (taskmanager periodic tasks upstream); stopPeriodic() ends them. */
  startPeriodic(p: PeriodicNotifications): void {
    this.stopPeriodic()
    const every = (ms: number | undefined, fn: () => void) => {
      if (!ms || ms <= 0 || !Number.isFinite(ms)) return
      const t = setInterval(() => {
        try {
          fn()
        } catch (e) {
          this.o.log(`periodic notifications failed: ${(e as Error).message}`)
        }
      }, ms)
      t.unref()
      this.timers.push(t)
    }
    every(p.existsMs, () => this.instancesExist(p.instances(), p.existsMs!))
    every(p.quotaMs, () => this.quotas(p.quotaUsage))
  }

  stopPeriodic(): void {
    for (const t of this.timers) clearInterval(t)
    this.timers = []
  }

  private apiTraits(req: FastifyRequest): Record<string, unknown> {
    return { tenant_id: req.auth?.project?.id ?? null, client_ip: req.ip, server_ip: this.o.host, server_type: 'api', request_id: req.troveRequestId }
  }

  private startTraits(event: string, instanceId: string): Record<string, unknown> {
    const row = this.store.lastPayload(instanceId, `dbaas.${event}.start`)
    return row ? (JSON.parse(row) as Record<string, unknown>) : { tenant_id: null, client_ip: null, server_ip: this.o.host, request_id: null }
  }

  /** Stored events, oldest first (tests, diagnostics). */
  list(eventType?: string): Array<{ event_type: string; publisher_id: string; priority: string; payload: Record<string, unknown>; created: string; instance_id: string | null }> {
    const rows = this.store.list(eventType)
    return rows.map((r) => ({ ...r, payload: JSON.parse(r.payload) as Record<string, unknown> }))
  }
}
