/**
 * trove SDK: a typed client of the OpenStack Trove v1.0 API with Keystone v3 auth.
 *
 * ```ts
 * import { TroveClient, waitFor } from 'trove'
 * const client = new TroveClient({ auth: { authType: 'password', authUrl, username, password, projectName, interface: 'public' } })
 * const inst = await client.instances.create({ name: 'db1', flavorRef: '1', volume: { size: 1 }, datastore: { type: 'postgresql' } })
 * ```
 */
export { TroveClient, queryString, type ClientOptions, type RequestOptions, type Response, type Query } from './client.js'
export * from './errors.js'
export { waitFor, type WaitOptions } from './wait.js'
export { paginate, getPage, type Page } from './pagination.js'
export type { AuthOptions } from './auth/config.js'
export { findEndpoint, databaseUrl, type CatalogEntry, type TokenInfo } from './auth/keystone.js'
export type * from './resources/types.js'
export type { InstanceListOptions } from './resources/instances.js'
