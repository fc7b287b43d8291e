import type { Transport } from '../transport.js'

/** A configuration parameter a datastore version accepts. */
export interface ConfigurationParameter {
  name: string
  type: string
  restart_required: boolean
  min?: number
  max?: number
  datastore_version_id?: string
  [key: string]: unknown
}

const enc = encodeURIComponent

/** Where a version's parameters live: by version UUID, or by datastore and version name/id. */
function base(version: string, datastore?: string): string {
  return datastore === undefined ? `/datastores/versions/${enc(version)}/parameters` : `/datastores/${enc(datastore)}/versions/${enc(version)}/parameters`
}

/** Configuration parameters of a datastore version. */
export class ConfigurationParameters {
  constructor(private readonly client: Transport) {}

  /** GET .../parameters (`datastore` omitted: the version must be an ID). */
  async list(version: string, datastore?: string): Promise<ConfigurationParameter[]> {
    return (await this.client.request<{ 'configuration-parameters': ConfigurationParameter[] }>('GET', base(version, datastore))).body['configuration-parameters']
  }

  /** GET .../parameters/{name}: the bare parameter object. */
  async get(version: string, name: string, datastore?: string): Promise<ConfigurationParameter> {
    return (await this.client.request<ConfigurationParameter>('GET', `${base(version, datastore)}/${enc(name)}`)).body
  }
}
