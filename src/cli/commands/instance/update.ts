import type { InstanceUpdate } from '../../../sdk/index.js'
import type { CommandSpec } from '../../spec.js'
import { CliError, usageError } from '../../errors.js'
import { instanceIdB } from './action-util.js'
import { RETENTION_OPTIONS, retentionBody } from './retention.js'

/** `on`/`off` (also true/false, yes/no, 1/0) as a boolean; anything else is a usage error naming the flag. */
export function onOff(flag: string, v: unknown): boolean {
  const s = String(v).toLowerCase()
  if (['on', 'true', 'yes', '1'].includes(s)) return true
  if (['off', 'false', 'no', '0'].includes(s)) return false
  throw usageError(`argument ${flag}: invalid choice: '${String(v)}' (choose from 'on', 'off')`)
}

const list = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : v === undefined ? [] : [String(v)])

export const instanceUpdate: CommandSpec = {
  path: ['instance', 'update'],
  summary: 'Updates an instance: Edits name, configuration, or replica source',
  args: [{ name: 'instance', description: 'ID or name of the instance' }],
  output: 'none',
  options: [
    { flags: '--name <name>', description: 'ID or name of the instance' },
    { flags: '--configuration <configuration>', description: 'ID of the configuration reference to attach' },
    { flags: '--detach-replica-source', description: 'Detach the replica instance from its replication source' },
    { flags: '--detach_replica_source', description: 'Detach the replica instance from its replication source', hidden: true },
    { flags: '--remove-configuration', description: 'Drops the current configuration reference' },
    { flags: '--remove_configuration', description: 'Drops the current configuration reference', hidden: true },
    { flags: '--is-public', description: 'Make the database service publicly accessible' },
    { flags: '--is-private', description: 'Make the database service inaccessible to the public' },
    { flags: '--allowed-cidr <ALLOWED_CIDRS>', description: 'IP CIDR that is allowed to access the database service (can be repeated)', repeatable: true },
    ...RETENTION_OPTIONS,
    { flags: '--auto-failover <on|off>', description: 'Fail the replication set over by itself when its primary is gone (a replica source with replicas; trove extension)' },
    {
      flags: '--sync-replication <on|off>',
      description: 'Each commit on the replica source waits until a replica has it (PostgreSQL, MariaDB; a source with an ACTIVE replica whose engine runs; trove extension)',
    },
  ],
  examples: [
    'trove instance update db1 --name db2',
    'trove instance update db1 --auto-failover on',
    'trove instance update db1 --sync-replication on',
    'trove instance update db1 --allowed-cidr 10.0.0.0/8 --allowed-cidr 127.0.0.1/32',
  ],
  async run(ctx, args, opts) {
    if (opts.isPublic && opts.isPrivate) throw usageError('argument --is-private: not allowed with argument --is-public')
    const remove = Boolean(opts.removeConfiguration || opts.remove_configuration)
    if (opts.configuration !== undefined && remove) throw new CliError('Cannot attach and detach configuration simultaneously.')
    const body: InstanceUpdate = {}
    if (remove) body.configuration = null
    if (opts.configuration !== undefined) body.configuration = String(opts.configuration)
    if (opts.name !== undefined) body.name = String(opts.name)
    if (opts.detachReplicaSource || opts.detach_replica_source) body.replica_of = null
    const cidrs = list(opts.allowedCidr)
    if (opts.isPublic || opts.isPrivate || cidrs.length) {
      body.access = {}
      if (opts.isPublic || opts.isPrivate) body.access.is_public = Boolean(opts.isPublic)
      if (cidrs.length) body.access.allowed_cidrs = cidrs
    }
    const retention = retentionBody(opts)
    if (retention) body.backup_retention = retention
    if (opts.autoFailover !== undefined) body.auto_failover = onOff('--auto-failover', opts.autoFailover)
    if (opts.syncReplication !== undefined) body.sync_replication = onOff('--sync-replication', opts.syncReplication)
    const client = await ctx.client()
    await client.instances.update(await instanceIdB(client, String(args.instance)), body)
    return { kind: 'none' }
  },
}
