import type { Transport } from '../transport.js'
import { getPage, paginate, type Page } from '../pagination.js'
import type { Instance } from './types.js'

/** An instance as the admin list shows it: the project's view plus its server and project. */
export interface MgmtInstance extends Instance {
  server_id?: string
  tenant_id?: string
  deleted?: boolean
  deleted_at?: string | null
  server?: { id: string; name?: string; status?: string; host?: string; tenant_id?: string }
}

/** Options of the admin instance list (troveclient's mgmt_instances.list). */
export interface MgmtInstanceListOptions {
  limit?: number
  marker?: string
  includeClustered?: boolean
  /** Only this project's instances (default: every project). */
  projectId?: string
  /** Deleted instances instead of live ones (default false). */
  deleted?: boolean
}

/** Instances of every project (admin): `/mgmt/instances`. */
export class MgmtInstances {
  constructor(private readonly client: Transport) {}

  /** troveclient's query order: limit, marker, include_clustered, project_id, deleted. */
  private query(o: MgmtInstanceListOptions) {
    return { limit: o.limit, marker: o.marker, include_clustered: o.includeClustered ?? false, project_id: o.projectId, deleted: o.deleted ?? false }
  }

  /** One page: GET /mgmt/instances?...&deleted=False. */
  page(o: MgmtInstanceListOptions = {}): Promise<Page<MgmtInstance>> {
    return getPage<MgmtInstance>(this.client, '/mgmt/instances', 'instances', this.query(o))
  }

  /** Every instance across pages: `for await (const i of client.mgmtInstances.list()) ...`. */
  list(o: MgmtInstanceListOptions = {}): AsyncGenerator<MgmtInstance> {
    return paginate<MgmtInstance>(this.client, '/mgmt/instances', 'instances', this.query(o))
  }

  /** GET /mgmt/instances/{id}. */
  async get(id: string): Promise<MgmtInstance> {
    return (await this.client.request<{ instance: MgmtInstance }>('GET', `/mgmt/instances/${encodeURIComponent(id)}`)).body.instance
  }
}
