/**
 * What the tests need of the upstream Trove v1.0 contract, in the project's own form: request
 * bodies the tests send (our own fixtures: values are ours where the server does not care) and
 * the fields of each response (names, nesting and JSON types are facts of the wire format).
 * Nothing here reads the reference specs: a clone of the repository tests itself.
 */

/**
 * Response fields, one path a word: `a.b[0].c:T` with T the JSON type of the leaf (s string,
 * n number, b false, t true, 0 null, {} / [] empty). Array items after [0] appear only where
 * their fields differ from the first one (limits: the absolute entry and the rate rules).
 */
const RESPONSE_FIELDS: Record<string, string> = {
  'backup-create-response': `
    backup.created:s backup.datastore.type:s backup.datastore.version:s backup.datastore.version_id:s backup.description:s backup.id:s
    backup.instance_id:s backup.locationRef:0 backup.name:s backup.parent_id:0 backup.size:0 backup.status:s backup.updated:s backup.storage_driver:s
  `,
  'backup-get-response': `
    backup.created:s backup.datastore.type:s backup.datastore.version:s backup.datastore.version_id:s backup.description:s backup.id:s
    backup.instance_id:s backup.locationRef:s backup.name:s backup.parent_id:0 backup.size:n backup.status:s backup.updated:s backup.storage_driver:s
  `,
  'backup-list-response': `
    backups[0].created:s backups[0].datastore.type:s backups[0].datastore.version:s backups[0].datastore.version_id:s backups[0].description:s
    backups[0].id:s backups[0].instance_id:s backups[0].locationRef:s backups[0].name:s backups[0].parent_id:0 backups[0].size:n backups[0].status:s
    backups[0].updated:s backups[0].storage_driver:s
  `,
  'backup-strategy-create-response': `backup_strategy.project_id:s backup_strategy.instance_id:s backup_strategy.backend:s backup_strategy.swift_container:s`,
  'backup-strategy-list-response': `
    backup_strategies[0].backend:s backup_strategies[0].instance_id:s backup_strategies[0].project_id:s backup_strategies[0].swift_container:s
  `,
  'config-group-create-response': `
    configuration.created:s configuration.updated:s configuration.datastore_name:s configuration.datastore_version_id:s
    configuration.datastore_version_name:s configuration.datastore_version_number:s configuration.description:0 configuration.id:s
    configuration.instance_count:n configuration.name:s configuration.values.connect_timeout:n
  `,
  'config-group-list-instances-response': `instances[0].id:s instances[0].name:s`,
  'config-group-show-response': `
    configuration.datastore_name:s configuration.datastore_version_id:s configuration.datastore_version_name:s configuration.datastore_version_number:s
    configuration.updated:s configuration.values.connect_timeout:n configuration.name:s configuration.created:s configuration.instance_count:n
    configuration.id:s configuration.description:0
  `,
  'config-groups-list-response': `
    configurations[0].updated:s configurations[0].datastore_version_id:s configurations[0].datastore_name:s configurations[0].datastore_version_name:s
    configurations[0].datastore_version_number:s configurations[0].name:s configurations[0].created:s configurations[0].id:s
    configurations[0].description:0
  `,
  'databases-list-response': `databases[0].name:s`,
  'datastore-show-response': `
    datastore.id:s datastore.links[0].href:s datastore.links[0].rel:s datastore.name:s datastore.versions[0].id:s datastore.versions[0].links[0].href:s
    datastore.versions[0].links[0].rel:s datastore.versions[0].links[1].href:s datastore.versions[0].links[1].rel:s datastore.versions[0].name:s
  `,
  'datastore-version-mgmt-list-response': `
    versions[0].active:t versions[0].datastore_id:s versions[0].datastore_manager:s versions[0].datastore_name:s versions[0].default:b versions[0].id:s
    versions[0].image:s versions[0].name:s versions[0].packages[0]:s versions[0].version:s
  `,
  'datastore-version-mgmt-show-response': `
    version.active:t version.datastore_id:s version.datastore_manager:s version.datastore_name:s version.default:b version.id:s version.image:s
    version.name:s version.packages[0]:s version.version:s
  `,
  'datastore-version-parameter-create-response': `
    configuration-parameters[0].datastore_version_id:s configuration-parameters[0].max:n configuration-parameters[0].min:n
    configuration-parameters[0].name:s configuration-parameters[0].restart_required:b configuration-parameters[0].type:s
  `,
  'datastore-version-parameter-list-response': `
    configuration-parameters[0].datastore_version_id:s configuration-parameters[0].max:n configuration-parameters[0].min:n
    configuration-parameters[0].name:s configuration-parameters[0].restart_required:b configuration-parameters[0].type:s
  `,
  'datastore-version-parameter-show-response': `datastore_version_id:s max:n min:n name:s restart_required:b type:s`,
  'datastore-version-parameter-update-response': `datastore_version_id:s deleted:n deleted_at:0 max_size:n min_size:n name:s restart_required:t type:s`,
  'datastore-version-show-response': `
    version.id:s version.name:s version.version:s version.links[0].href:s version.links[0].rel:s version.datastore:s version.active:t version.packages:s
    version.image:0 version.registry_ext:s version.repl_strategy:s version.image_tags[0]:s
  `,
  'instance-backup-list-response': `
    backups[0].created:s backups[0].datastore.type:s backups[0].datastore.version:s backups[0].datastore.version_id:s backups[0].description:0
    backups[0].id:s backups[0].instance_id:s backups[0].locationRef:s backups[0].name:s backups[0].parent_id:0 backups[0].size:n backups[0].status:s
    backups[0].updated:s
  `,
  'instance-log-disable-response': `log.name:s log.type:s log.status:s log.published:s log.pending:s log.container:s log.prefix:s log.metafile:s`,
  'instance-log-discard-response': `log.name:s log.type:s log.status:s log.published:s log.pending:s log.container:s log.prefix:s log.metafile:s`,
  'instance-log-enable-response': `log.name:s log.type:s log.status:s log.published:s log.pending:s log.container:s log.prefix:s log.metafile:s`,
  'instance-log-list-response': `
    logs[0].name:s logs[0].type:s logs[0].status:s logs[0].published:s logs[0].pending:s logs[0].container:s logs[0].prefix:s logs[0].metafile:s
  `,
  'instance-log-publish-response': `log.name:s log.type:s log.status:s log.published:s log.pending:s log.container:s log.prefix:s log.metafile:s`,
  'instance-log-show-response': `log.name:s log.type:s log.status:s log.published:s log.pending:s log.container:s log.prefix:s log.metafile:s`,
  'instance-mgmt-list-response': `
    instances[0].addresses[0].address:s instances[0].addresses[0].type:s instances[0].addresses[0].network:s instances[0].addresses[1].address:s
    instances[0].addresses[1].type:s instances[0].created:s instances[0].datastore.type:s instances[0].datastore.version:s instances[0].deleted:b
    instances[0].deleted_at:0 instances[0].encrypted_rpc_messaging:t instances[0].flavor.id:s instances[0].id:s instances[0].ip[0]:s instances[0].ip[1]:s
    instances[0].links[0].href:s instances[0].links[0].rel:s instances[0].links[1].href:s instances[0].name:s instances[0].operating_status:s
    instances[0].region:s instances[0].server.host:s instances[0].server.id:s instances[0].server.name:s instances[0].server.status:s
    instances[0].server.tenant_id:s instances[0].server_id:s instances[0].service_status:s instances[0].service_status_updated:s instances[0].status:s
    instances[0].task_description:s instances[0].tenant_id:s instances[0].updated:s instances[0].volume.size:n instances[0].volume_id:s
    instances[1].created:s instances[1].datastore.type:s instances[1].datastore.version:s instances[1].deleted:b instances[1].deleted_at:0
    instances[1].encrypted_rpc_messaging:t instances[1].fault.created:s instances[1].fault.details:s instances[1].fault.message:s instances[1].flavor.id:s
    instances[1].id:s instances[1].links[0].href:s instances[1].links[0].rel:s instances[1].links[1].href:s instances[1].links[1].rel:s
    instances[1].name:s instances[1].operating_status:s instances[1].region:s instances[1].server:0 instances[1].server_id:0 instances[1].service_status:s
    instances[1].service_status_updated:s instances[1].status:s instances[1].task_description:s instances[1].tenant_id:s instances[1].updated:s
    instances[1].volume.size:n instances[1].volume_id:0
  `,
  'instance-mgmt-show-response': `
    instance.addresses[0].address:s instance.addresses[0].type:s instance.addresses[0].network:s instance.addresses[1].address:s
    instance.addresses[1].type:s instance.created:s instance.datastore.type:s instance.datastore.version:s instance.deleted:b instance.deleted_at:0
    instance.encrypted_rpc_messaging:t instance.flavor.id:s instance.guest_status.state_description:s instance.id:s instance.ip[0]:s
    instance.links[0].href:s instance.links[0].rel:s instance.name:s instance.operating_status:s instance.region:s
    instance.server.addresses.private[0].OS-EXT-IPS-MAC:mac_addr:s instance.server.addresses.private[0].OS-EXT-IPS:type:s
    instance.server.addresses.private[0].addr:s instance.server.addresses.private[0].version:n
    instance.server.addresses.trove-mgmt[0].OS-EXT-IPS-MAC:mac_addr:s instance.server.addresses.trove-mgmt[0].OS-EXT-IPS:type:s
    instance.server.addresses.trove-mgmt[0].addr:s instance.server.addresses.trove-mgmt[0].version:n instance.server.host:s instance.server.id:s
    instance.server.name:s instance.server.status:s instance.server.tenant_id:s instance.server_id:s instance.service_status:s
    instance.service_status_updated:s instance.status:s instance.task_description:s instance.tenant_id:s instance.updated:s
    instance.volume.attachments[0].attached_at:s instance.volume.attachments[0].attachment_id:s instance.volume.attachments[0].device:s
    instance.volume.attachments[0].host_name:s instance.volume.attachments[0].id:s instance.volume.attachments[0].server_id:s
    instance.volume.attachments[0].volume_id:s instance.volume.availability_zone:s instance.volume.created_at:s instance.volume.id:s
    instance.volume.size:n instance.volume.status:s instance.volume.total:n instance.volume.used:n instance.volume_id:s
  `,
  'limit-show-response': `
    limits[0].max_backups:n limits[0].max_instances:n limits[0].max_volumes:n limits[0].verb:s limits[1].nextAvailable:s limits[1].regex:s
    limits[1].remaining:n limits[1].unit:s limits[1].uri:s limits[1].value:n limits[1].verb:s limits[2].nextAvailable:s limits[2].regex:s
    limits[2].remaining:n limits[2].unit:s limits[2].uri:s limits[2].value:n limits[2].verb:s limits[3].nextAvailable:s limits[3].regex:s
    limits[3].remaining:n limits[3].unit:s limits[3].uri:s limits[3].value:n limits[3].verb:s limits[4].nextAvailable:s limits[4].regex:s
    limits[4].remaining:n limits[4].unit:s limits[4].uri:s limits[4].value:n limits[4].verb:s limits[5].nextAvailable:s limits[5].regex:s
    limits[5].remaining:n limits[5].unit:s limits[5].uri:s limits[5].value:n limits[5].verb:s
  `,
  'quota-show-response': `quotas[0].in_use:n quotas[0].limit:n quotas[0].reserved:n quotas[0].resource:s`,
  'user-check-root-response': `rootEnabled:t`,
  'user-enable-root-response': `user.name:s user.password:s`,
  'user-list-response': `
    users[0].databases[0].name:s users[0].host:s users[0].name:s users[1].databases[0].name:s users[1].databases[1].name:s users[1].host:s users[1].name:s
    users[2].databases:[] users[2].host:s users[2].name:s
  `,
  'user-show-response': `user.databases[0].name:s user.host:s user.name:s`,
  'user-show-root-history-response': `root_history.enabled:s root_history.id:s root_history.user:s`,
  'versions-response': `versions[0].id:s versions[0].links[0].href:s versions[0].links[0].rel:s versions[0].status:s versions[0].updated:s`,
}

const NIL_UUID = '00000000-0000-4000-8000-000000000000'

/** Request bodies, keyed like the upstream example names (test names refer to them). */
const REQUESTS: Record<string, unknown> = {
  'backup-create-request': { backup: { description: 'My Backup', incremental: 0, instance: NIL_UUID, name: 'snapshot', storage_driver: 'cinder' } },
  'backup-strategy-create-request': { backup_strategy: { instance_id: NIL_UUID, swift_container: 'nightly_backups' } },
  'config-group-create-request': { configuration: { name: 'group1', datastore: { type: 'mysql', version: 'mysql-8.0', version_number: '8.0.36' }, values: { connect_timeout: 200 } } },
  'config-group-patch-request': { configuration: { values: { connect_timeout: 17 } } },
  'config-group-put-request': { configuration: { values: { connect_timeout: 18 }, name: 'new_name', description: 'New description' } },
  'databases-create-request': { databases: [{ character_set: 'utf8mb3', collate: 'utf8mb3_general_ci', name: 'databaseA' }, { name: 'databaseB' }, { name: 'databaseC' }] },
  'datastore-version-create-request': {
    version: { datastore_name: 'mysql', datastore_manager: 'mysql', name: 'test', image_tags: ['trove'], active: true, default: false, packages: [], version: '5.7.30' },
  },
  'datastore-version-mgmt-patch-request': { name: 'new name', image: '42706631-3b76-4d1c-95c9-6a85e72eebda', active: true },
  'datastore-version-parameter-create-request': { 'configuration-parameter': { name: 'connect_timeout', data_type: 'integer', min_size: 64, max_size: 65535, restart_required: 0 } },
  'datastore-version-parameter-update-request': { 'configuration-parameter': { name: 'connect_timeout', data_type: 'integer', min_size: 64, max_size: 65535, restart_required: 1 } },
  'instance-action-eject-replica-request': { eject_replica_source: {} },
  'instance-action-promote-replica-request': { promote_to_replica_source: {} },
  'instance-action-reset-status-request': { reset_status: {} },
  'instance-action-resize-request': { resize: { flavorRef: '2' } },
  'instance-action-resize-volume-request': { resize: { volume: { size: 4 } } },
  'instance-action-restart-request': { restart: {} },
  'instance-create-request': {
    instance: {
      name: 'orders',
      flavorRef: 1,
      volume: { size: 2 },
      nics: [{ 'net-id': NIL_UUID }],
      datastore: { type: 'mysql', version: '8.0' },
      databases: [{ character_set: 'utf8mb3', collate: 'utf8mb3_general_ci', name: 'orders' }, { name: 'audit' }],
      users: [{ databases: [{ name: 'orders' }], name: 'shop', password: 'shop-secret' }],
      access: { is_public: true, allowed_cidrs: ['192.0.2.0/24'] },
    },
  },
  'instance-log-disable-request': { name: 'general', disable: 1 },
  'instance-log-discard-request': { name: 'general', discard: 1 },
  'instance-log-enable-request': { name: 'general', enable: 1 },
  'instance-log-publish-request': { name: 'general', publish: 1 },
  'instance-log-show-request': { name: 'general' },
  'instance-mgmt-action-migrate-request': { migrate: { host: 'host-2' } },
  'instance-mgmt-action-reboot-request': { reboot: {} },
  'instance-mgmt-action-rebuild-instance-request': { rebuild: { image_id: NIL_UUID } },
  'instance-mgmt-action-reset-task-status-request': { 'reset-task-status': {} },
  'instance-mgmt-action-stop-request': { stop: {} },
  'instance-patch-detach-replica-request': { instance: { replica_of: null } },
  'instance-patch-update-name-request': { instance: { name: 'renamed' } },
  'instance-patch-upgrade-datastore-version-request': { instance: { datastore_version: 'next-version' } },
  'instance-put-attach-config-group-request': { instance: { configuration: NIL_UUID } },
  'instance-put-detach-config-group-request-2': { instance: { configuration: null } },
  'instance-put-detach-config-group-request': { instance: {} },
  'instance-ssl-action-request-disable': { ssl: { disable: true } },
  'instance-ssl-action-request-rollback': { ssl: { rollback: true } },
  'instance-ssl-action-request': { ssl: { enable: true, mode: 'basic', container_ref: 'https://secrets.example.org/v1/secrets/1', password_ref: 'https://secrets.example.org/v1/secrets/2' } },
  'instance-update-access-request': { instance: { access: { is_public: true, allowed_cidrs: ['10.0.0.0/24'] } } },
  'user-create-request': {
    users: [
      { databases: [{ name: 'databaseA' }], name: 'dbuser1', password: 'password' },
      { databases: [{ name: 'databaseB' }, { name: 'databaseC' }], name: 'dbuser2', password: 'password' },
      { name: 'dbuser3', password: 'password' },
    ],
  },
  'user-grant-databases-access-request': { databases: [{ name: 'test' }] },
  'user-put-request': { user: { name: 'new_name', password: 'new_password', host: '192.168.30.98' } },
  'user-root-enable-request': { password: 'r00t-Passw0rd-Of-Our-Own' },
  'users-put-request': { users: [{ name: 'new_name', password: 'another_password', host: '192.168.30.98' }] },
  'quota-update': { quotas: { instances: 10, backups: 30 } },
}

/** Names of the request bodies (what fuzz.ts mutates per route). */
export const REQUEST_NAMES: readonly string[] = Object.keys(REQUESTS)

const LEAF: Record<string, () => unknown> = { s: () => '', n: () => 0, b: () => false, t: () => true, 0: () => null, '{}': () => ({}), '[]': () => [] }

/** The object a field list describes: every field present, leaves a value of their type. */
export function fieldsToObject(fields: string): Record<string, unknown> {
  const root: Record<string, unknown> = {}
  for (const word of fields.split(/\s+/).filter(Boolean)) {
    const colon = word.lastIndexOf(':')
    const leaf = LEAF[word.slice(colon + 1)]
    if (colon < 0 || !leaf) throw new Error(`bad field ${word}`)
    // Steps: object keys and array indexes, in order.
    const steps = word
      .slice(0, colon)
      .split('.')
      .flatMap((part) => {
        const [key, ...idx] = part.split('[')
        return [key!, ...idx.map((i) => Number(i.slice(0, -1)))]
      })
    let at: Record<string | number, unknown> = root
    steps.forEach((step, i) => {
      if (i === steps.length - 1) {
        at[step] = leaf()
        return
      }
      at[step] ??= typeof steps[i + 1] === 'number' ? [] : {}
      at = at[step] as Record<string | number, unknown>
    })
  }
  return root
}

/** A request body or response of the contract, by upstream example name (`x.json` or `x`): a fresh copy. */
export function contract(name: string): unknown {
  const key = name.replace(/\.json$/, '')
  if (key in REQUESTS) return structuredClone(REQUESTS[key])
  if (key in RESPONSE_FIELDS) return fieldsToObject(RESPONSE_FIELDS[key]!)
  throw new Error(`no contract entry ${key}`)
}
