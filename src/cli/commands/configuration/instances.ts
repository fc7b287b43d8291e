import type { CommandSpec } from '../../spec.js'
import { findConfiguration } from '../../resolve.js'

export const configurationInstances: CommandSpec = {
  path: ['configuration', 'instances'],
  summary: 'Lists all instances associated with a configuration group',
  args: [{ name: 'configuration_group', description: 'ID or name of the configuration group' }],
  options: [
    { flags: '--limit <limit>', description: 'Limit the number of results displayed', int: true },
    { flags: '--marker <ID>', description: 'Begin displaying the results for IDs greater than the specified marker. When used with --limit, set this to the last ID displayed in the previous run' },
  ],
  output: 'list',
  examples: ['trove configuration instances tuned'],
  async run(ctx, args, opts) {
    const client = await ctx.client()
    const conf = await findConfiguration(client, String(args.configuration_group))
    const list = await client.configurations.instances(conf.id, { limit: opts.limit as number | undefined, marker: opts.marker as string | undefined })
    return { kind: 'list', columns: ['ID', 'Name'], rows: list.map((i) => [i.id, i.name]) }
  },
}
