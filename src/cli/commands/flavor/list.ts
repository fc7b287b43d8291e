import type { CommandSpec } from '../../spec.js'
import { CliError } from '../../errors.js'

export const flavorList: CommandSpec = {
  path: ['flavor', 'list'],
  summary: 'List flavors',
  output: 'list',
  options: [
    { flags: '--datastore-type <datastore-type>', description: 'Type of the datastore. For eg: mysql' },
    { flags: '--datastore-version-id <datastore-version-id>', description: 'ID of the datastore version' },
  ],
  async run(ctx, _args, opts) {
    if (Boolean(opts.datastoreType) !== Boolean(opts.datastoreVersionId)) throw new CliError('Missing argument(s): datastore-type, datastore-version-id')
    const client = await ctx.client()
    const flavors = opts.datastoreType ? await client.flavors.listForDatastoreVersion(String(opts.datastoreType), String(opts.datastoreVersionId)) : await client.flavors.list()
    return { kind: 'list', columns: ['ID', 'Name', 'RAM', 'vCPUs', 'Disk', 'Ephemeral'], rows: flavors.map((f) => [f.id ?? f.str_id, f.name, f.ram, f.vcpus, f.disk, f.ephemeral]) }
  },
}
