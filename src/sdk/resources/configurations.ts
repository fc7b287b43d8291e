import type { Transport } from '../transport.js'
import type { Query } from '../transport.js'

/** Configuration values: parameter name to value. */
export type ConfigurationValues = Record<string, unknown>

/** A configuration group, as the API returns it. */
export interface Configuration {
  id: string
  name: string
  description: string | null
  values?: ConfigurationValues
  created?: string
  updated?: string
  instance_count?: number
  datastore_name?: string
  datastore_version_id?: string
  datastore_version_name?: string
  datastore_version_number?: string
  [key: string]: unknown
}

/** Body of `POST /configurations`. */
export interface ConfigurationCreate {
  name: string
  values: ConfigurationValues
  description?: string
  datastore?: { type?: string; version?: string; version_number?: string }
}

/** Body of `PUT /configurations/{id}` (replaces the values). */
export interface ConfigurationUpdate {
  values: ConfigurationValues
  name?: string
  description?: string
}

/** An instance attached to a configuration group. */
export interface ConfigurationInstance {
  id: string
  name: string
}

/** Paging of configuration lists (one page, as troveclient does). */
export interface ConfigurationListOptions {
  limit?: number
  marker?: string
}

const enc = encodeURIComponent
const page = (o: ConfigurationListOptions): Query => ({ limit: o.limit, marker: o.marker })

/** Configuration groups: `/configurations`. */
export class Configurations {
  constructor(private readonly client: Transport) {}

  /** GET /configurations (one page). */
  async list(o: ConfigurationListOptions = {}): Promise<Configuration[]> {
    return (await this.client.request<{ configurations: Configuration[] }>('GET', '/configurations', { query: page(o) })).body.configurations
  }

  /** GET /configurations/{id}. */
  async get(id: string): Promise<Configuration> {
    return (await this.client.request<{ configuration: Configuration }>('GET', `/configurations/${enc(id)}`)).body.configuration
  }

  /** GET /configurations/{id}/instances (one page). */
  async instances(id: string, o: ConfigurationListOptions = {}): Promise<ConfigurationInstance[]> {
    return (await this.client.request<{ instances: ConfigurationInstance[] }>('GET', `/configurations/${enc(id)}/instances`, { query: page(o) })).body.instances
  }

  /** POST /configurations. */
  async create(body: ConfigurationCreate): Promise<Configuration> {
    return (await this.client.request<{ configuration: Configuration }>('POST', '/configurations', { body: { configuration: body } })).body.configuration
  }

  /** PUT /configurations/{id}: replace the values (and optionally name/description). */
  async update(id: string, body: ConfigurationUpdate): Promise<void> {
    await this.client.request('PUT', `/configurations/${enc(id)}`, { body: { configuration: body } })
  }

  /** PATCH /configurations/{id}: merge values into the group. */
  async edit(id: string, values: ConfigurationValues): Promise<void> {
    await this.client.request('PATCH', `/configurations/${enc(id)}`, { body: { configuration: { values } } })
  }

  /** PUT /instances/{instanceId} {configuration: id}: attach the group to an instance (202). */
  async attach(instanceId: string, configurationId: string): Promise<void> {
    await this.client.request('PUT', `/instances/${enc(instanceId)}`, { body: { instance: { configuration: configurationId } } })
  }

  /** PUT /instances/{instanceId} {configuration: null}: detach the instance's group (202). */
  async detach(instanceId: string): Promise<void> {
    await this.client.request('PUT', `/instances/${enc(instanceId)}`, { body: { instance: { configuration: null } } })
  }

  /** DELETE /configurations/{id}. */
  async delete(id: string): Promise<void> {
    await this.client.request('DELETE', `/configurations/${enc(id)}`)
  }
}
