import type { TroveClient } from '../client.js'
import type { Datastore, DatastoreVersion } from './types.js'

/** Datastores: `/datastores`. */
export class Datastores {
  constructor(private readonly client: TroveClient) {}

  /** GET /datastores (non-admins see datastores with an active version only). */
  async list(): Promise<Datastore[]> {
    return (await this.client.request<{ datastores: Datastore[] }>('GET', '/datastores')).body.datastores
  }

  /** GET /datastores/{id or name}. */
  async get(datastore: string): Promise<Datastore> {
    return (await this.client.request<{ datastore: Datastore }>('GET', `/datastores/${encodeURIComponent(datastore)}`)).body.datastore
  }
}

/** Datastore versions. */
export class DatastoreVersions {
  constructor(private readonly client: TroveClient) {}

  /** GET /datastores/{datastore}/versions. */
  async list(datastore: string): Promise<DatastoreVersion[]> {
    return (await this.client.request<{ versions: DatastoreVersion[] }>('GET', `/datastores/${encodeURIComponent(datastore)}/versions`)).body.versions
  }

  /** GET /datastores/{datastore}/versions/{name or id}. */
  async get(datastore: string, version: string): Promise<DatastoreVersion> {
    return (await this.client.request<{ version: DatastoreVersion }>('GET', `/datastores/${encodeURIComponent(datastore)}/versions/${encodeURIComponent(version)}`)).body.version
  }

  /** GET /datastores/versions/{uuid}. */
  async getByUuid(id: string): Promise<DatastoreVersion> {
    return (await this.client.request<{ version: DatastoreVersion }>('GET', `/datastores/versions/${encodeURIComponent(id)}`)).body.version
  }
}
