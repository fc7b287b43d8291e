import type { Transport } from '../transport.js'
import { paginate } from '../pagination.js'
import type { Instance } from './types.js'

/** A module (api.md 6.20). */
export interface Module {
  id: string
  name: string
  type: string
  description: string | null
  tenant: string
  datastore: string
  datastore_version: string
  auto_apply: boolean
  priority_apply: boolean
  apply_order: number
  is_admin: boolean
  visible: boolean
  md5: string
  created: string
  updated: string
  live_update?: boolean
  instance_count?: number
  [key: string]: unknown
}

/** A module as applied to an instance (api.md 6.7 GuestModule). */
export interface InstanceModule {
  id: string
  name: string
  type: string
  datastore: string
  datastore_version: string
  md5: string
  status?: string
  message?: string
  created?: string
  updated: string
  removed?: string | null
  contents?: string
  [key: string]: unknown
}

/** One md5 group of `module instance count` (count_only). */
export interface ModuleInstanceCount {
  module_name: string
  module_id: string
  module_md5: string
  instance_count: number
  current: boolean
  min_updated_date: string
  max_updated_date: string
}

/** Fields of a module create/update; `contents` as given (base64-encode file data, like troveclient). */
export interface ModuleFields {
  name?: string
  module_type?: string
  contents?: string
  description?: string
  datastore?: { type?: string; version?: string }
  all_tenants?: 0 | 1
  all_datastores?: 0 | 1
  all_datastore_versions?: 0 | 1
  auto_apply?: 0 | 1
  visible?: 0 | 1
  live_update?: 0 | 1
  priority_apply?: 0 | 1
  apply_order?: number
  full_access?: 0 | 1
}

/** Body of a reapply (`PUT /modules/{id}/instances`). */
export interface ModuleReapply {
  md5?: string
  include_clustered?: 0 | 1
  batch_size?: number
  batch_delay?: number
  force?: 0 | 1
}

const enc = encodeURIComponent

/** Modules (`/modules`) and the modules of instances (`/instances/{id}/modules`). */
export class Modules {
  constructor(private readonly client: Transport) {}

  /** GET /modules[?datastore=<name or id or all>] (not paginated). */
  async list(datastore?: string): Promise<Module[]> {
    return (await this.client.request<{ modules: Module[] }>('GET', '/modules', { query: { datastore } })).body.modules
  }

  /** GET /modules/{id}. */
  async get(id: string): Promise<Module> {
    return (await this.client.request<{ module: Module }>('GET', `/modules/${enc(id)}`)).body.module
  }

  /** POST /modules. */
  async create(fields: ModuleFields & { name: string; module_type: string; contents: string }): Promise<Module> {
    return (await this.client.request<{ module: Module }>('POST', '/modules', { body: { module: fields } })).body.module
  }

  /** PUT /modules/{id}. */
  async update(id: string, fields: ModuleFields): Promise<Module> {
    return (await this.client.request<{ module: Module }>('PUT', `/modules/${enc(id)}`, { body: { module: fields } })).body.module
  }

  /** DELETE /modules/{id}. */
  async delete(id: string): Promise<void> {
    await this.client.request('DELETE', `/modules/${enc(id)}`)
  }

  /** GET /modules/{id}/instances, every page. */
  instances(id: string, o: { includeClustered?: boolean } = {}): AsyncGenerator<Instance> {
    return paginate<Instance>(this.client, `/modules/${enc(id)}/instances`, 'instances', o.includeClustered ? { include_clustered: true } : {})
  }

  /** GET /modules/{id}/instances?count_only=True. */
  async instanceCount(id: string, o: { includeClustered?: boolean } = {}): Promise<ModuleInstanceCount[]> {
    const query = { ...(o.includeClustered ? { include_clustered: true } : {}), count_only: true }
    return (await this.client.request<{ instances: ModuleInstanceCount[] }>('GET', `/modules/${enc(id)}/instances`, { query })).body.instances
  }

  /** PUT /modules/{id}/instances `{"reapply": {...}}`. */
  async reapply(id: string, r: ModuleReapply = {}): Promise<void> {
    await this.client.request('PUT', `/modules/${enc(id)}/instances`, { body: { reapply: r } })
  }

  /** GET /instances/{id}/modules[?from_guest=True][&include_contents=True]. */
  async listForInstance(instanceId: string, o: { fromGuest?: boolean; includeContents?: boolean } = {}): Promise<InstanceModule[]> {
    const query = { ...(o.fromGuest ? { from_guest: true } : {}), ...(o.includeContents ? { include_contents: true } : {}) }
    return (await this.client.request<{ modules: InstanceModule[] }>('GET', `/instances/${enc(instanceId)}/modules`, { query })).body.modules
  }

  /** POST /instances/{id}/modules `{"modules": [{"id": ...}]}`: the guest's results. */
  async apply(instanceId: string, moduleIds: string[]): Promise<InstanceModule[]> {
    const body = { modules: moduleIds.map((id) => ({ id })) }
    return (await this.client.request<{ modules: InstanceModule[] }>('POST', `/instances/${enc(instanceId)}/modules`, { body })).body.modules
  }

  /** DELETE /instances/{id}/modules/{module_id}. */
  async remove(instanceId: string, moduleId: string): Promise<void> {
    await this.client.request('DELETE', `/instances/${enc(instanceId)}/modules/${enc(moduleId)}`)
  }
}
