import type { Transport } from '../transport.js'
import { paginate } from '../pagination.js'

/** A database user of an instance, as the API returns it. */
export interface DatabaseUser {
  name: string
  host?: string
  databases: Array<{ name: string }>
}

/** One user to create. */
export interface DatabaseUserCreate {
  name: string
  password: string
  host?: string
  databases: Array<{ name: string }>
}

/** Attributes to change on a user (`PUT /instances/{id}/users/{user}`). */
export interface DatabaseUserUpdate {
  name?: string
  password?: string
  host?: string
}

const enc = encodeURIComponent

/** The `{user}` path segment: `name@host` when a host is given, percent-encoded. */
export function userSegment(name: string, host?: string): string {
  return enc(host === undefined ? name : `${name}@${host}`)
}

/** Database users of an instance: `/instances/{id}/users`. */
export class Users {
  constructor(private readonly client: Transport) {}

  /** Every user of an instance, following `links` rel=next markers. */
  list(instanceId: string): AsyncGenerator<DatabaseUser> {
    return paginate<DatabaseUser>(this.client, `/instances/${enc(instanceId)}/users`, 'users')
  }

  /** GET /instances/{id}/users/{user}. */
  async get(instanceId: string, name: string, host?: string): Promise<DatabaseUser> {
    return (await this.client.request<{ user: DatabaseUser }>('GET', `/instances/${enc(instanceId)}/users/${userSegment(name, host)}`)).body.user
  }

  /** POST /instances/{id}/users `{"users": [...]}` (202, no body). */
  async create(instanceId: string, users: DatabaseUserCreate[]): Promise<void> {
    await this.client.request('POST', `/instances/${enc(instanceId)}/users`, { body: { users } })
  }

  /** PUT /instances/{id}/users/{user} `{"user": {...}}`. */
  async update(instanceId: string, name: string, host: string | undefined, changes: DatabaseUserUpdate): Promise<void> {
    await this.client.request('PUT', `/instances/${enc(instanceId)}/users/${userSegment(name, host)}`, { body: { user: changes } })
  }

  /** DELETE /instances/{id}/users/{user}. */
  async delete(instanceId: string, name: string, host?: string): Promise<void> {
    await this.client.request('DELETE', `/instances/${enc(instanceId)}/users/${userSegment(name, host)}`)
  }

  /** GET /instances/{id}/users/{user}/databases: the databases the user may access. */
  async listAccess(instanceId: string, name: string, host?: string): Promise<Array<{ name: string }>> {
    return (await this.client.request<{ databases: Array<{ name: string }> }>('GET', `/instances/${enc(instanceId)}/users/${userSegment(name, host)}/databases`)).body.databases
  }

  /** PUT /instances/{id}/users/{user}/databases `{"databases": [{"name": d}, ...]}`. */
  async grant(instanceId: string, name: string, databases: string[], host?: string): Promise<void> {
    await this.client.request('PUT', `/instances/${enc(instanceId)}/users/${userSegment(name, host)}/databases`, { body: { databases: databases.map((d) => ({ name: d })) } })
  }

  /** DELETE /instances/{id}/users/{user}/databases/{database}. */
  async revoke(instanceId: string, name: string, database: string, host?: string): Promise<void> {
    await this.client.request('DELETE', `/instances/${enc(instanceId)}/users/${userSegment(name, host)}/databases/${enc(database)}`)
  }
}
