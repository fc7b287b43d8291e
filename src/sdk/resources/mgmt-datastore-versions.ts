import type { Transport } from '../transport.js'

/** Body of `POST /mgmt/datastore-versions`. */
export interface MgmtDatastoreVersionCreate {
  name: string
  datastore_name: string
  datastore_manager: string
  image_tags: string[]
  packages: string[]
  active: boolean
  default: boolean
  image?: string
  version?: string
}

/** Body of `PATCH /mgmt/datastore-versions/{id}` (unwrapped; only the keys to change). */
export interface MgmtDatastoreVersionUpdate {
  datastore_manager?: string
  image?: string
  active?: boolean
  default?: boolean
  image_tags?: string[]
  name?: string
}

const enc = encodeURIComponent

/** Datastore versions (admin): `/mgmt/datastore-versions`. */
export class MgmtDatastoreVersions {
  constructor(private readonly client: Transport) {}

  /** POST /mgmt/datastore-versions `{"version": {...}}` (202, no body). */
  async create(version: MgmtDatastoreVersionCreate): Promise<void> {
    await this.client.request('POST', '/mgmt/datastore-versions', { body: { version } })
  }

  /** PATCH /mgmt/datastore-versions/{id}. */
  async update(id: string, changes: MgmtDatastoreVersionUpdate): Promise<void> {
    await this.client.request('PATCH', `/mgmt/datastore-versions/${enc(id)}`, { body: changes })
  }

  /** DELETE /mgmt/datastore-versions/{id}. */
  async delete(id: string): Promise<void> {
    await this.client.request('DELETE', `/mgmt/datastore-versions/${enc(id)}`)
  }
}
