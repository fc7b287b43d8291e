import type { Transport } from '../transport.js'
import { getPage, paginate, type Page } from '../pagination.js'
import type { Instance, InstanceCreate } from './types.js'

/** The response header by which a server offers the long poll of {@link Instances.changed}: its longest wait, in seconds. */
export const WAIT_HEADER = 'x-trove-wait-for-change'

/** Options of instance listing. */
export interface InstanceListOptions {
  limit?: number
  marker?: string
  /** Include cluster members (troveclient always sends the flag). */
  includeClustered?: boolean
  /** GET /instances/detail instead of /instances. */
  detailed?: boolean
}

/** Body of `PUT /instances/{id}`: at most one change besides `name`. */
export interface InstanceUpdate {
  name?: string
  /** A configuration group id to attach, or null to detach. */
  configuration?: string | null
  /** null: detach the instance from its replica source. */
  replica_of?: null
  access?: { is_public?: boolean; allowed_cidrs?: string[] }
  /** trove lab extension: retention of automated backups (days 0..365, 0 = off; count 1..1000 or null = none). */
  backup_retention?: { days?: number; count?: number | null }
  /** trove lab extension: automatic failover of the replication set this source is the primary of (needs replicas). */
  auto_failover?: boolean
  /** trove lab extension: synchronous replication of the set this source is the primary of (PostgreSQL, MariaDB; needs an ACTIVE replica whose engine runs). */
  sync_replication?: boolean
}

/** Database instances: `/instances`. */
export class Instances {
  constructor(private readonly client: Transport) {}

  /** One page of instances. */
  page(o: InstanceListOptions = {}): Promise<Page<Instance>> {
    return getPage<Instance>(this.client, o.detailed ? '/instances/detail' : '/instances', 'instances', { limit: o.limit, marker: o.marker, include_clustered: o.includeClustered ?? false })
  }

  /** Every instance, across pages: `for await (const i of client.instances.list()) ...`. */
  list(o: InstanceListOptions = {}): AsyncGenerator<Instance> {
    return paginate<Instance>(this.client, o.detailed ? '/instances/detail' : '/instances', 'instances', { limit: o.limit, marker: o.marker, include_clustered: o.includeClustered ?? false })
  }

  /** The longest long poll the server offers, in ms, from the header of the last get() (or create()); undefined: none (poll). */
  private longPollMs: number | undefined

  /** GET /instances/{id}. */
  async get(id: string): Promise<Instance> {
    const r = await this.client.request<{ instance: Instance }>('GET', `/instances/${encodeURIComponent(id)}`)
    this.learnLongPoll(r.headers[WAIT_HEADER])
    return r.body.instance
  }

  /**
   * GET /instances/{id}?wait_for_change=STATUS (a trove lab's extension, README "API notes"):
   * the instance as soon as its status is no longer `status` (a NotFoundError once it is
   * gone), or as it is after at most `maxMs`. Returns undefined, sending nothing, unless an
   * earlier get() saw the server offer it (other clouds: poll with get()).
   */
  changed(id: string, status: string, maxMs: number): Promise<Instance> | undefined {
    if (this.longPollMs === undefined) return undefined
    // The answer must come well within the client's own request timeout.
    const ms = Math.min(maxMs, this.longPollMs, this.client.requestTimeoutMs - 5000)
    if (!(ms > 0)) return undefined
    return this.client.request<{ instance: Instance }>('GET', `/instances/${encodeURIComponent(id)}`, { query: { wait_for_change: status, wait_timeout: (ms / 1000).toFixed(3) } }).then((r) => {
      this.learnLongPoll(r.headers[WAIT_HEADER])
      return r.body.instance
    })
  }

  private learnLongPoll(header: string | string[] | undefined): void {
    const s = Number(Array.isArray(header) ? header[0] : header)
    this.longPollMs = header !== undefined && Number.isFinite(s) && s > 0 ? s * 1000 : undefined
  }

  /** POST /instances: starts a build; the instance comes back in BUILD. */
  async create(body: InstanceCreate): Promise<Instance> {
    const r = await this.client.request<{ instance: Instance }>('POST', '/instances', { body: { instance: body } })
    // A lab says on the create's answer too that it offers the long poll: a wait can start with one.
    if (r.headers[WAIT_HEADER] !== undefined) this.learnLongPoll(r.headers[WAIT_HEADER])
    return r.body.instance
  }

  /** DELETE /instances/{id}: starts deletion (202). */
  async delete(id: string): Promise<void> {
    await this.client.request('DELETE', `/instances/${encodeURIComponent(id)}`)
  }

  /** POST /instances/{id}/action {resize: {flavorRef}}: resize to another flavor (202; status RESIZE). */
  async resizeFlavor(id: string, flavorId: string): Promise<void> {
    await this.action(id, { resize: { flavorRef: flavorId } })
  }

  /** POST /instances/{id}/action {resize: {volume: {size}}}: grow the volume to `size` GB (202). */
  async resizeVolume(id: string, size: number): Promise<void> {
    await this.action(id, { resize: { volume: { size } } })
  }

  /** POST /instances/{id}/action {restart: {}}: restart the datastore (202; status REBOOT). */
  async restart(id: string): Promise<void> {
    await this.action(id, { restart: {} })
  }

  /** POST /instances/{id}/action {reset_status: {}}: task NONE, service status unknown (admin, or owner before a forced delete). */
  async resetStatus(id: string): Promise<void> {
    await this.action(id, { reset_status: {} })
  }

  /** PATCH /instances/{id} {datastore_version}: upgrade to another version of the datastore (202; status UPGRADE). */
  async upgrade(id: string, datastoreVersion: string): Promise<void> {
    await this.client.request('PATCH', `/instances/${encodeURIComponent(id)}`, { body: { instance: { datastore_version: datastoreVersion } } })
  }

  /** PUT /instances/{id} {instance: body}: rename, attach/detach a configuration, access (202). */
  async update(id: string, body: InstanceUpdate): Promise<void> {
    await this.client.request('PUT', `/instances/${encodeURIComponent(id)}`, { body: { instance: body } })
  }

  /** GET /instances/{id}/configuration: the configuration values the instance runs with. */
  async defaultConfiguration(id: string): Promise<Record<string, unknown>> {
    return (await this.client.request<{ instance: { configuration: Record<string, unknown> } }>('GET', `/instances/${encodeURIComponent(id)}/configuration`)).body.instance.configuration
  }

  /** POST /mgmt/instances/{id}/action {reboot: {}} (admin): restart the instance's guest (202). */
  async reboot(id: string): Promise<void> {
    await this.client.request('POST', `/mgmt/instances/${encodeURIComponent(id)}/action`, { body: { reboot: {} } })
  }

  /** POST /mgmt/instances/{id}/action {rebuild: {image_id}} (admin): rebuild on a new guest image (the lab has none: 501). */
  async rebuild(id: string, imageId: string): Promise<void> {
    await this.client.request('POST', `/mgmt/instances/${encodeURIComponent(id)}/action`, { body: { rebuild: { image_id: imageId } } })
  }

  /** POST /instances/{id}/action {promote_to_replica_source: {}}: the replica becomes the source of its set (202; status PROMOTE). */
  async promoteToReplicaSource(id: string): Promise<void> {
    await this.action(id, { promote_to_replica_source: {} })
  }

  /** POST /instances/{id}/action {eject_replica_source: {}}: replace a dead replica source by its most advanced replica (202; status EJECT). */
  async ejectReplicaSource(id: string): Promise<void> {
    await this.action(id, { eject_replica_source: {} })
  }

  /** PUT /instances/{id} {replica_of: null}: detach a replica from its source; it becomes a standalone instance (202; status DETACH). */
  async detachReplica(id: string): Promise<void> {
    await this.client.request('PUT', `/instances/${encodeURIComponent(id)}`, { body: { instance: { replica_of: null } } })
  }

  private async action(id: string, body: Record<string, unknown>): Promise<void> {
    await this.client.request('POST', `/instances/${encodeURIComponent(id)}/action`, { body })
  }
}
