import type { CommandSpec } from '../../../spec.js'
import { CliError } from '../../../errors.js'

const STRICT_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

export const datastoreVersionShow: CommandSpec = {
  path: ['datastore', 'version', 'show'],
  summary: 'Shows details of a datastore version',
  args: [{ name: 'datastore_version', description: 'ID or name of the datastore version' }],
  options: [{ flags: '--datastore <datastore>', description: 'ID or name of the datastore. Optional if the ID of the datastore_version is provided' }],
  output: 'show',
  async run(ctx, args, opts) {
    const client = await ctx.client()
    const ver = String(args.datastore_version)
    let v
    if (opts.datastore) v = await client.datastoreVersions.get(String(opts.datastore), ver)
    else if (STRICT_UUID.test(ver)) v = await client.datastoreVersions.getByUuid(ver)
    else throw new CliError('The datastore name or id is required to retrieve a datastore version by name.')
    // The openstack client keeps an empty links list (a quirk); we drop links always.
    const { links: _links, ...fields } = v
    return { kind: 'show', fields }
  },
}
