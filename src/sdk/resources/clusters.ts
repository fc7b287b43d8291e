import type { TroveClient } from '../client.js'

/** A cluster, as the list returns it. */
export interface Cluster {
  id: string
  name: string
  datastore: { type: string; version: string; version_id?: string }
  task: { id: number; name: string; description: string }
  created?: string
  updated?: string
  [key: string]: unknown
}

/** Paging of the cluster list (one page, as troveclient does). */
export interface ClusterListOptions { limit?: number; marker?: string }

/** Clusters: `/clusters`. */
export class Clusters {
  constructor(private readonly client: TroveClient) {}

  /** GET /clusters (one page). */
  async list(o: ClusterListOptions = {}): Promise<Cluster[]> {
    return (await this.client.request<{ clusters: Cluster[] }>('GET', '/clusters', { query: { limit: o.limit, marker: o.marker } })).body.clusters
  }

  /** GET /clusters/{id}. */
  async get(id: string): Promise<Cluster> {
    return (await this.client.request<{ cluster: Cluster }>('GET', `/clusters/${encodeURIComponent(id)}`)).body.cluster
  }
}
