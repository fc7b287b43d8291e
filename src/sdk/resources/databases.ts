import type { Transport } from '../transport.js'
import { paginate } from '../pagination.js'

/** A database (schema) on an instance, as the API returns it. */
export interface Database {
  name: string
  character_set?: string
  collate?: string
}

/** One database to create. */
export interface DatabaseCreate {
  name: string
  character_set?: string
  collate?: string
}

const enc = encodeURIComponent

/** Databases (schemas) of an instance: `/instances/{id}/databases`. */
export class Databases {
  constructor(private readonly client: Transport) {}

  /** Every database of an instance, following `links` rel=next markers. */
  list(instanceId: string): AsyncGenerator<Database> {
    return paginate<Database>(this.client, `/instances/${enc(instanceId)}/databases`, 'databases')
  }

  /** POST /instances/{id}/databases `{"databases": [...]}` (202, no body). */
  async create(instanceId: string, databases: DatabaseCreate[]): Promise<void> {
    await this.client.request('POST', `/instances/${enc(instanceId)}/databases`, { body: { databases } })
  }

  /** DELETE /instances/{id}/databases/{name}. */
  async delete(instanceId: string, name: string): Promise<void> {
    await this.client.request('DELETE', `/instances/${enc(instanceId)}/databases/${enc(name)}`)
  }
}
