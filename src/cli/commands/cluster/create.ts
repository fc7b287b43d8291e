import type { ClusterCreate } from '../../../sdk/index.js'
import type { CommandSpec } from '../../spec.js'
import { CliError } from '../../errors.js'
import { clusterFields, parseClusterInstance } from './fields.js'

export const clusterCreate: CommandSpec = {
  path: ['cluster', 'create'],
  summary: 'Creates a new database cluster',
  args: [
    { name: 'name', description: 'Name of the cluster' },
    { name: 'datastore', description: 'A datastore name or ID' },
    { name: 'datastore_version', description: 'A datastore version name or ID' },
  ],
  options: [
    {
      flags: '--instance <flavor=<flavor_name_or_id>,volume=<volume>,...>',
      description: "Add an instance to the cluster: flavor=, volume= (required), volume_type=, nic='<net-id=...>', availability_zone=, module=, type=, region=. Repeat for each instance",
      repeatable: true,
    },
    { flags: '--locality <policy>', description: 'Locality policy to use when creating cluster', choices: ['affinity', 'anti-affinity'] },
    { flags: '--extended_properties, --extended-properties <key=value,...>', description: 'Extended properties, e.g. num_configsvr=1,num_mongos=1' },
    { flags: '--configuration <configuration>', description: 'ID of the configuration group to attach to the cluster' },
  ],
  output: 'show',
  examples: ['trove cluster create c1 mongodb 4.0 --instance flavor=m1.small,volume=2 --instance flavor=m1.small,volume=2'],
  async run(ctx, args, opts) {
    const specs = (opts.instance as string[] | undefined) ?? []
    if (!specs.length) throw new CliError('Missing argument(s): instance')
    const client = await ctx.client()
    const body: ClusterCreate = {
      name: String(args.name),
      datastore: { type: String(args.datastore), version: String(args.datastore_version) },
      instances: [],
    }
    for (const s of specs) body.instances.push(await parseClusterInstance(client, s, false))
    if (opts.locality) body.locality = String(opts.locality)
    if (opts.extendedProperties) {
      body.extended_properties = {}
      for (const kv of String(opts.extendedProperties).split(',')) {
        const i = kv.indexOf('=')
        if (i <= 0) throw new CliError(`--extended-properties: '${kv}' is not key=value`)
        body.extended_properties[kv.slice(0, i)] = kv.slice(i + 1)
      }
    }
    if (opts.configuration) body.configuration = String(opts.configuration)
    return { kind: 'show', fields: clusterFields(await client.clusters.create(body)) }
  },
}
