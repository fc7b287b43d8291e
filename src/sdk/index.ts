/**
 * trove SDK: a typed client of the OpenStack Trove v1.0 API with Keystone v3 auth.
 *
 * ```ts
 * import { TroveClient, waitFor } from 'trove'
 * const client = new TroveClient({ auth: { authType: 'password', authUrl, username, password, projectName, interface: 'public' } })
 * const inst = await client.instances.create({ name: 'db1', flavorRef: '1', volume: { size: 1 }, datastore: { type: 'postgresql' } })
 * ```
 */
export { TroveClient, queryString, escapeIllegal, type ClientOptions, type RequestOptions, type Response, type Query } from './client.js'
export * from './errors.js'
export { waitFor, type WaitOptions } from './wait.js'
export { paginate, getPage, linkMarker, LinkMarker, type Page } from './pagination.js'
export { ConfigError, type AuthOptions, type AuthType, type EndpointInterface, type ConfigOrigin, type ResolvedAuth } from './auth/config.js'
export { resolveAuth, resolveAuthWithOrigin, type ResolveAuthSources } from './auth/resolve.js'
export { loadClouds, type ConfigFs, type LoadedClouds } from './auth/clouds-file.js'
export { findEndpoint, databaseUrl, type CatalogEntry, type TokenInfo } from './auth/keystone.js'
export type * from './resources/types.js'
export type { InstanceListOptions, InstanceUpdate } from './resources/instances.js'
export type { Database, DatabaseCreate } from './resources/databases.js'
export { userSegment, type DatabaseUser, type DatabaseUserCreate, type DatabaseUserUpdate } from './resources/users.js'
export type { RootUser, RootTarget } from './resources/root.js'
export type { Configuration, ConfigurationCreate, ConfigurationUpdate, ConfigurationValues, ConfigurationInstance, ConfigurationListOptions } from './resources/configurations.js'
export type { ConfigurationParameter } from './resources/configuration-parameters.js'
export type { AbsoluteLimits, RateLimit } from './resources/limits.js'
export type { QuotaUsage } from './resources/quotas.js'
export type { BackupStrategy, BackupStrategyCreate, BackupStrategyFilter } from './resources/backup-strategies.js'
export type { BackupSchedule, BackupScheduleCreate, BackupExecution, BackupSchedules } from './resources/backup-schedules.js'
export type { Backup, BackupCreate, BackupListOptions } from './resources/backups.js'
export type { Cluster, ClusterListOptions, ClusterCreate, ClusterInstance, ClusterInstanceCreate } from './resources/clusters.js'
export type { VolumeType } from './resources/datastores.js'
export type { MgmtDatastoreVersionCreate, MgmtDatastoreVersionUpdate } from './resources/mgmt-datastore-versions.js'
export type { GuestLog, LogActions, PublishedLog } from './resources/logs.js'
export type { Module, InstanceModule, ModuleInstanceCount, ModuleFields, ModuleReapply } from './resources/modules.js'
export type { FaultKind, InjectedFault, MgmtInstance, MgmtInstanceListOptions } from './resources/mgmt-instances.js'
export { FAULT_KINDS } from './resources/mgmt-instances.js'
