import type { CommandSpec } from '../../spec.js'
import { parseValues } from '../../json-values.js'
import type { ConfigurationCreate } from '../../../sdk/index.js'
import { configurationFields } from './fields.js'

export const configurationCreate: CommandSpec = {
  path: ['configuration', 'create'],
  summary: 'Creates a configuration group',
  args: [
    { name: 'name', description: 'Name of the configuration group' },
    { name: 'values', description: 'Dictionary of the values to set', allowEmpty: true },
  ],
  options: [
    { flags: '--datastore <datastore>', description: 'Datastore assigned to the configuration group. Required if default datastore is not configured' },
    { flags: '--datastore-version <datastore_version>', description: 'Datastore version ID assigned to the configuration group' },
    { flags: '--datastore-version-number <DATASTORE_VERSION_NUMBER>', description: 'The version number for the database. The version number is needed for the datastore versions with the same name' },
    { flags: '--description <description>', description: 'An optional description for the configuration group' },
  ],
  output: 'show',
  examples: [`trove configuration create tuned '{"max_connections": 300}' --datastore mariadb`],
  async run(ctx, args, opts) {
    const values = parseValues(String(args.values))
    const client = await ctx.client()
    const body: ConfigurationCreate = { name: String(args.name), values }
    const ds: NonNullable<ConfigurationCreate['datastore']> = {}
    if (opts.datastore !== undefined) ds.type = String(opts.datastore)
    if (opts.datastoreVersion !== undefined) ds.version = String(opts.datastoreVersion)
    if (opts.datastoreVersionNumber !== undefined) ds.version_number = String(opts.datastoreVersionNumber)
    if (Object.keys(ds).length > 0) body.datastore = ds
    if (opts.description !== undefined) body.description = String(opts.description)
    return { kind: 'show', fields: configurationFields(await client.configurations.create(body)) }
  },
}
