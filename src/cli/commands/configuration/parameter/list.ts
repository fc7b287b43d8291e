import type { CommandSpec } from '../../../spec.js'
import { CliError } from '../../../errors.js'
import { isUuidLike } from '../../../resolve.js'

export const configurationParameterList: CommandSpec = {
  path: ['configuration', 'parameter', 'list'],
  summary: 'Lists available parameters for a configuration group',
  args: [{ name: 'datastore_version', description: 'Datastore version name or ID assigned to the configuration group' }],
  options: [{ flags: '--datastore <datastore>', description: 'ID or name of the datastore to list configuration parameters for. Optional if the ID of the datastore_version is provided' }],
  output: 'list',
  examples: ['trove configuration parameter list 10.11 --datastore mariadb'],
  async run(ctx, args, opts) {
    const version = String(args.datastore_version)
    const client = await ctx.client()
    let params
    if (isUuidLike(version)) params = await client.configurationParameters.list(version)
    else if (opts.datastore !== undefined) params = await client.configurationParameters.list(version, String(opts.datastore))
    else throw new CliError('Either datastore version ID or datastore name needs to be specified.')
    return {
      kind: 'list',
      columns: ['Name', 'Type', 'Min Size', 'Max Size', 'Restart Required'],
      rows: params.map((p) => [p.name, p.type, p.min ?? '-', p.max ?? '-', p.restart_required]),
    }
  },
}
