import type { Transport } from '../transport.js'

/** A cluster member as the cluster object lists it. */
export interface ClusterInstance {
  id: string
  name: string
  flavor?: { id: string | number }
  volume?: { size?: number }
  status?: string
  type?: string
  [key: string]: unknown
}

/** A cluster, as the list returns it. */
export interface Cluster {
  id: string
  name: string
  datastore: { type: string; version: string; version_id?: string }
  task: { id: number; name: string; description: string }
  created?: string
  updated?: string
  instances?: ClusterInstance[]
  ip?: Array<string | { address: string }>
  [key: string]: unknown
}

/** One node of a create or grow request (troveclient's `--instance` value). */
export interface ClusterInstanceCreate {
  flavorRef: string
  /** troveclient sends the size as a string; the API accepts both. */
  volume?: { size: number | string; type?: string }
  nics?: Array<Record<string, string>>
  availability_zone?: string
  modules?: Array<{ id: string }>
  type?: string[] | string
  related_to?: string
  name?: string
  region_name?: string
}

/** POST /clusters body (inside `cluster`). */
export interface ClusterCreate {
  name: string
  datastore: { type: string; version: string }
  instances: ClusterInstanceCreate[]
  locality?: string
  extended_properties?: Record<string, string | number>
  configuration?: string
}

/** Paging of the cluster list (one page, as troveclient does). */
export interface ClusterListOptions {
  limit?: number
  marker?: string
}

/** Clusters: `/clusters`. */
export class Clusters {
  constructor(private readonly client: Transport) {}

  /** GET /clusters (one page). */
  async list(o: ClusterListOptions = {}): Promise<Cluster[]> {
    return (await this.client.request<{ clusters: Cluster[] }>('GET', '/clusters', { query: { limit: o.limit, marker: o.marker } })).body.clusters
  }

  /** GET /clusters/{id}. */
  async get(id: string): Promise<Cluster> {
    return (await this.client.request<{ cluster: Cluster }>('GET', `/clusters/${encodeURIComponent(id)}`)).body.cluster
  }

  /** POST /clusters. */
  async create(body: ClusterCreate): Promise<Cluster> {
    return (await this.client.request<{ cluster: Cluster }>('POST', '/clusters', { body: { cluster: body } })).body.cluster
  }

  /** DELETE /clusters/{id}. */
  async delete(id: string): Promise<void> {
    await this.client.request('DELETE', `/clusters/${encodeURIComponent(id)}`)
  }

  /** One cluster action: POST /clusters/{id} `{<action>: body}`; some actions answer with the cluster. */
  private async action(id: string, body: Record<string, unknown>): Promise<Cluster | undefined> {
    const res = await this.client.request<{ cluster?: Cluster } | undefined>('POST', `/clusters/${encodeURIComponent(id)}`, { body })
    return res.body?.cluster
  }

  /** `{"reset-status": {}}`: sets the cluster task to NONE. */
  resetStatus(id: string): Promise<Cluster | undefined> {
    return this.action(id, { 'reset-status': {} })
  }

  /** Force delete: reset status, then delete. */
  async forceDelete(id: string): Promise<void> {
    await this.resetStatus(id)
    await this.delete(id)
  }

  /** `{"grow": [...]}`: adds nodes. */
  grow(id: string, instances: ClusterInstanceCreate[]): Promise<Cluster | undefined> {
    return this.action(id, { grow: instances })
  }

  /** `{"shrink": [{"id"}]}`: removes member instances. */
  shrink(id: string, instanceIds: string[]): Promise<Cluster | undefined> {
    return this.action(id, { shrink: instanceIds.map((i) => ({ id: i })) })
  }

  /** `{"upgrade": {"datastore_version"}}`. */
  upgrade(id: string, datastoreVersion: string): Promise<Cluster | undefined> {
    return this.action(id, { upgrade: { datastore_version: datastoreVersion } })
  }

  /** `{"add_shard": {}}`. */
  addShard(id: string): Promise<Cluster | undefined> {
    return this.action(id, { add_shard: {} })
  }

  /** GET /instances/{member}/modules of one cluster member. */
  async memberModules(instanceId: string): Promise<Array<Record<string, unknown>>> {
    return (await this.client.request<{ modules: Array<Record<string, unknown>> }>('GET', `/instances/${encodeURIComponent(instanceId)}/modules`)).body.modules
  }
}
