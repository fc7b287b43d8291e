import type { Instance, InstanceCreate, TroveClient } from '../../../sdk/index.js'
import type { CommandSpec } from '../../spec.js'
import { CliError } from '../../errors.js'
import { findFlavor, findInstance } from '../../resolve.js'
import { waitForInstance } from '../../ui/wait.js'
import { showFields } from './fields.js'
import { findBackup } from '../backup/fields.js'
import { configurationIdB } from './action-util.js'
import { promptMissingCreateValues } from '../../prompt.js'
import { RETENTION_OPTIONS, retentionBody } from './retention.js'
import { onOff } from './update.js'
import { RESTORE_TIME_OPTIONS, restoreTimePoint } from './restore-time.js'
import { findModule } from '../module/find.js'

/** The ids of an instance's replicas (its `replicas` field). */
async function replicaIds(client: TroveClient, source: string): Promise<Set<string>> {
  return new Set(((await client.instances.get(source)).replicas ?? []).map((r) => r.id))
}

const collect = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : v === undefined ? [] : [String(v)])

export const instanceCreate: CommandSpec = {
  path: ['instance', 'create'],
  summary: 'Create a new database instance',
  args: [{ name: 'name', description: 'Name of the instance' }],
  output: 'show',
  wait: true,
  options: [
    { flags: '--flavor <flavor>', description: 'Flavor to create the instance (name or ID)' },
    { flags: '--size <size>', description: 'Size of the instance disk volume in GB', int: true },
    { flags: '--volume-type <volume_type>', description: 'Volume type' },
    { flags: '--databases <database...>', description: 'Optional list of databases' },
    { flags: '--users <user:password...>', description: 'Optional list of users' },
    { flags: '--backup <backup>', description: 'A backup name or ID' },
    { flags: '--configuration <configuration>', description: 'ID or name of the configuration group to attach to the instance' },
    { flags: '--availability-zone <availability_zone>', description: 'The Zone hint to give to Nova' },
    { flags: '--datastore <datastore>', description: 'A datastore name or ID' },
    { flags: '--datastore-version <datastore_version>', description: 'A datastore version name or ID' },
    { flags: '--datastore-version-number <DATASTORE_VERSION_NUMBER>', description: 'The version number for the database' },
    { flags: '--nic <net-id=<net-uuid>,subnet-id=<subnet-uuid>,ip-address=<ip-address>>', description: 'Create instance with the given network' },
    { flags: '--is-public', description: 'Whether or not to make the instance public' },
    { flags: '--allowed-cidr <ALLOWED_CIDRS>', description: 'The IP CIDRs that are allowed to access the database instance', repeatable: true },
    { flags: '--replica-of <source_instance>', description: 'ID or name of an existing instance to replicate from' },
    { flags: '--replica-count <count>', description: 'Number of replicas to create (defaults to 1 if replica_of specified)', int: true },
    { flags: '--module <module>', description: 'ID or name of the module to apply. Specify multiple times to apply multiple modules', repeatable: true },
    { flags: '--locality <policy>', description: 'Locality policy to use when creating replicas. Choose one of affinity, anti-affinity', choices: ['affinity', 'anti-affinity'] },
    { flags: '--region <region>', description: 'Name of region in which to create the instance', hidden: true },
    ...RETENTION_OPTIONS,
    { flags: '--auto-failover <on|off>', description: 'With --replica-of: the replication set fails over by itself when its primary is gone (trove extension)' },
    ...RESTORE_TIME_OPTIONS,
  ],
  examples: [
    'trove instance create db1 --flavor m1.tiny --size 1 --datastore postgresql --wait',
    'trove instance create app --flavor 2 --size 2 --datastore mariadb --databases app --users app:secret',
    'trove instance create app-replica --replica-of app --wait',
    'trove instance create app-at-ten --flavor m1.tiny --size 1 --restore-from app --restore-time 2026-12-04T10:00:00Z --wait',
    'trove instance create app-latest --flavor m1.tiny --size 1 --restore-from app --restore-latest --wait',
  ],
  async run(ctx, args, opts) {
    await promptMissingCreateValues(ctx, opts)
    if (!opts.flavor && !opts.replicaOf) throw new CliError('Please specify a flavor')
    const size = opts.size as number | undefined
    if (size !== undefined && size <= 0) throw new CliError(`Volume size '${size}' must be an integer and greater than 0.`)
    if (opts.locality && opts.replicaOf) throw new CliError('Cannot specify locality when adding replicas to existing master.')
    const body: InstanceCreate = { name: String(args.name) }
    const client = await ctx.client()
    // A replica takes its source's flavor: the openstack client warns and sends none (cli.md 3).
    if (opts.replicaOf && opts.flavor) ctx.io.stdout('Warning: Flavor is ignored for creating replica.\n')
    if (!opts.replicaOf) {
      const flavor = await findFlavor(client, String(opts.flavor))
      body.flavorRef = String(flavor.id ?? flavor.str_id)
    }
    if (size !== undefined) body.volume = { size, type: (opts.volumeType as string | undefined) ?? null }
    const databases = collect(opts.databases).map((name) => ({ name }))
    if (databases.length) body.databases = databases
    const users = collect(opts.users).map((u) => {
      const i = u.indexOf(':')
      if (i <= 0) throw new CliError(`user '${u}' must be given as <user:password>`)
      return { name: u.slice(0, i), password: u.slice(i + 1), databases }
    })
    if (users.length) body.users = users
    if (opts.configuration) body.configuration = await configurationIdB(client, String(opts.configuration))
    if (opts.backup) body.restorePoint = { backupRef: (await findBackup(client, String(opts.backup))).id }
    const pitr = await restoreTimePoint(client, opts)
    if (pitr) body.restorePoint = pitr
    if (opts.availabilityZone) body.availability_zone = String(opts.availabilityZone)
    const ds: InstanceCreate['datastore'] = {}
    if (opts.datastore) ds.type = String(opts.datastore)
    if (opts.datastoreVersion) ds.version = String(opts.datastoreVersion)
    if (opts.datastoreVersionNumber) ds.version_number = String(opts.datastoreVersionNumber)
    if (Object.keys(ds).length) body.datastore = ds
    if (opts.nic) {
      const nic: Record<string, string> = {}
      const map: Record<string, string> = { 'net-id': 'network_id', 'subnet-id': 'subnet_id', 'ip-address': 'ip_address' }
      for (const kv of String(opts.nic).split(',')) {
        const [k, v] = kv.split('=')
        if (!map[k]) throw new CliError(`${k} is not allowed.`)
        if (v) nic[map[k]] = v
      }
      body.nics = [nic]
    }
    if (opts.replicaOf) body.replica_of = (await findInstance(client, String(opts.replicaOf))).id
    // Defaults to 1 with --replica-of; without it a count is sent as given (the server refuses > 1).
    const count = (opts.replicaCount as number | undefined) ?? (opts.replicaOf ? 1 : undefined)
    if (count !== undefined) body.replica_count = count
    const modules = collect(opts.module)
    if (modules.length) body.modules = await Promise.all(modules.map(async (m) => ({ id: (await findModule(client, m)).id })))
    if (opts.locality) body.locality = String(opts.locality)
    if (opts.region) body.region_name = String(opts.region)
    const cidrs = collect(opts.allowedCidr)
    body.access = { is_public: Boolean(opts.isPublic), ...(cidrs.length ? { allowed_cidrs: cidrs } : {}) }
    const retention = retentionBody(opts)
    if (retention) body.backup_retention = retention
    if (opts.autoFailover !== undefined) body.auto_failover = onOff('--auto-failover', opts.autoFailover)

    // The API answers one replica of several (upstream: the last one made); the others are found
    // as the source's new replicas, so that --wait waits for and prints every one of them.
    const before = count !== undefined && count > 1 && opts.wait ? await replicaIds(client, String(body.replica_of)) : undefined
    let inst = await client.instances.create(body)
    if (!opts.wait) return { kind: 'show', fields: showFields(inst) }
    if (before) {
      const made = [...(await replicaIds(client, String(body.replica_of)))].filter((id) => !before.has(id))
      const ids = made.includes(inst.id) ? made : [...made, inst.id]
      // They build side by side; one after another, each wait gets what is left of --timeout.
      const deadline = Date.now() + (opts.timeout === undefined ? 1800 : Number(opts.timeout)) * 1000
      const all: Instance[] = []
      for (const id of ids) {
        const left = Number.isFinite(deadline) ? Math.max(0.001, (deadline - Date.now()) / 1000) : opts.timeout
        all.push((await waitForInstance(ctx, client, id, 'ACTIVE', { ...opts, timeout: left })) ?? inst)
      }
      all.sort((a, b) => a.name.localeCompare(b.name, 'en', { numeric: true }))
      return { kind: 'shows', items: all.map((i) => ({ kind: 'show', fields: showFields(i) })) }
    }
    inst = (await waitForInstance(ctx, client, inst.id, 'ACTIVE', opts, inst.name, inst)) ?? inst
    return { kind: 'show', fields: showFields(inst) }
  },
}
