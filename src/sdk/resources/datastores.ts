import type { Transport } from '../transport.js'
import type { Datastore, DatastoreVersion } from './types.js'

/** Datastores: `/datastores`. */
export class Datastores {
  constructor(private readonly client: Transport) {}

  /** GET /datastores (non-admins see datastores with an active version only). */
  async list(): Promise<Datastore[]> {
    return (await this.client.request<{ datastores: Datastore[] }>('GET', '/datastores')).body.datastores
  }

  /** GET /datastores/{id or name}. */
  async get(datastore: string): Promise<Datastore> {
    return (await this.client.request<{ datastore: Datastore }>('GET', `/datastores/${encodeURIComponent(datastore)}`)).body.datastore
  }

  /** DELETE /datastores/{id or name} (admin). */
  async delete(datastore: string): Promise<void> {
    await this.client.request('DELETE', `/datastores/${encodeURIComponent(datastore)}`)
  }

  /** GET /volume-types, or the types of one datastore version: GET /datastores/{ds}/versions/{v}/volume-types. */
  async volumeTypes(datastore?: string, versionId?: string): Promise<VolumeType[]> {
    const path = datastore && versionId ? `/datastores/${encodeURIComponent(datastore)}/versions/${encodeURIComponent(versionId)}/volume-types` : '/volume-types'
    return (await this.client.request<{ volume_types: VolumeType[] }>('GET', path)).body.volume_types
  }

  /** GET /volume-types/{id}. */
  async volumeType(id: string): Promise<VolumeType> {
    return (await this.client.request<{ volume_type: VolumeType }>('GET', `/volume-types/${encodeURIComponent(id)}`)).body.volume_type
  }
}

/** A Cinder volume type as Trove lists it. */
export interface VolumeType {
  id: string
  name: string
  is_public?: boolean
  description?: string | null
  [key: string]: unknown
}

/** Datastore versions. */
export class DatastoreVersions {
  constructor(private readonly client: Transport) {}

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
