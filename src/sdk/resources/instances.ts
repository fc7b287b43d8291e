import type { TroveClient } from '../client.js'
import { getPage, paginate, type Page } from '../pagination.js'
import type { Instance, InstanceCreate } from './types.js'

/** Options of instance listing. */
export interface InstanceListOptions {
  limit?: number
  marker?: string
  /** Include cluster members (troveclient always sends the flag). */
  includeClustered?: boolean
  /** GET /instances/detail instead of /instances. */
  detailed?: boolean
}

/** Database instances: `/instances`. */
export class Instances {
  constructor(private readonly client: TroveClient) {}

  /** One page of instances. */
  page(o: InstanceListOptions = {}): Promise<Page<Instance>> {
    return getPage<Instance>(this.client, o.detailed ? '/instances/detail' : '/instances', 'instances', { limit: o.limit, marker: o.marker, include_clustered: o.includeClustered ?? false })
  }

  /** Every instance, across pages: `for await (const i of client.instances.list()) ...`. */
  list(o: InstanceListOptions = {}): AsyncGenerator<Instance> {
    return paginate<Instance>(this.client, o.detailed ? '/instances/detail' : '/instances', 'instances', { limit: o.limit, marker: o.marker, include_clustered: o.includeClustered ?? false })
  }

  /** GET /instances/{id}. */
  async get(id: string): Promise<Instance> {
    return (await this.client.request<{ instance: Instance }>('GET', `/instances/${encodeURIComponent(id)}`)).body.instance
  }

  /** POST /instances: starts a build; the instance comes back in BUILD. */
  async create(body: InstanceCreate): Promise<Instance> {
    return (await this.client.request<{ instance: Instance }>('POST', '/instances', { body: { instance: body } })).body.instance
  }

  /** DELETE /instances/{id}: starts deletion (202). */
  async delete(id: string): Promise<void> {
    await this.client.request('DELETE', `/instances/${encodeURIComponent(id)}`)
  }
}
