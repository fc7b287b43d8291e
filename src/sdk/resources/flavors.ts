import type { Transport } from '../transport.js'
import type { Flavor } from './types.js'

/** Flavors: `/flavors` and the flavors of a datastore version. */
export class Flavors {
  constructor(private readonly client: Transport) {}

  /** GET /flavors. */
  async list(): Promise<Flavor[]> {
    return (await this.client.request<{ flavors: Flavor[] }>('GET', '/flavors')).body.flavors
  }

  /** GET /datastores/{datastore}/versions/{version}/flavors. */
  async listForDatastoreVersion(datastore: string, versionId: string): Promise<Flavor[]> {
    return (await this.client.request<{ flavors: Flavor[] }>('GET', `/datastores/${encodeURIComponent(datastore)}/versions/${encodeURIComponent(versionId)}/flavors`)).body.flavors
  }

  /** GET /flavors/{id}. */
  async get(id: string | number): Promise<Flavor> {
    return (await this.client.request<{ flavor: Flavor }>('GET', `/flavors/${encodeURIComponent(String(id))}`)).body.flavor
  }
}
