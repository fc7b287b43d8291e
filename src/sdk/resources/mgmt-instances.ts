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

/** The fault verbs of `POST /mgmt/instances/{id}/faults` (a lab extension; admin only). */
export const FAULT_KINDS = ['kill-engine', 'kill-agent', 'pause', 'partition', 'heal'] as const
export type FaultKind = (typeof FAULT_KINDS)[number]

/** What a fault verb did (the server's answer). */
export interface InjectedFault {
  instance_id: string
  kind: FaultKind
  /** What was done, in one line (e.g. the pids signalled). */
  effect: string
  /** What the lab does next by itself (e.g. the supervisor restarts a killed engine). */
  after: string
  /** When, ISO 8601 with milliseconds (UTC). */
  injected_at: string
  user_id: string
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

  /**
   * Injects a fault into an instance (lab only, admin only; a member gets UnauthorizedError, as on every mgmt route):
   * POST /mgmt/instances/{id}/faults `{"fault": {"kind": KIND}}`. `heal` undoes pause and partition.
   */
  async injectFault(id: string, kind: FaultKind): Promise<InjectedFault> {
    return (await this.client.request<{ fault: InjectedFault }>('POST', `/mgmt/instances/${encodeURIComponent(id)}/faults`, { body: { fault: { kind } } })).body.fault
  }

  /** GET /mgmt/instances/{id}. */
  async get(id: string): Promise<MgmtInstance> {
    return (await this.client.request<{ instance: MgmtInstance }>('GET', `/mgmt/instances/${encodeURIComponent(id)}`)).body.instance
  }
}
