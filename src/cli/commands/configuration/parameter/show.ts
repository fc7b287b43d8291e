import type { CommandSpec } from '../../../spec.js'
import { CliError } from '../../../errors.js'
import { isUuidLike } from '../../../resolve.js'

export const configurationParameterShow: CommandSpec = {
  path: ['configuration', 'parameter', 'show'],
  summary: 'Shows details of a database configuration parameter',
  args: [
    { name: 'datastore_version', description: 'Datastore version name or ID assigned to the configuration group' },
    { name: 'parameter', description: 'Name of the configuration parameter' },
  ],
  options: [{ flags: '--datastore <datastore>', description: 'ID or name of the datastore to list configuration parameters for. Optional if the ID of the datastore_version is provided' }],
  output: 'show',
  examples: ['trove configuration parameter show 10.11 max_connections --datastore mariadb'],
  async run(ctx, args, opts) {
    const version = String(args.datastore_version)
    const name = String(args.parameter)
    const client = await ctx.client()
    let p
    if (isUuidLike(version)) p = await client.configurationParameters.get(version, name)
    else if (opts.datastore !== undefined) p = await client.configurationParameters.get(version, name, String(opts.datastore))
    else throw new CliError('Either datastore version ID or datastore name needs to be specified.')
    return { kind: 'show', fields: { ...p } }
  },
}
