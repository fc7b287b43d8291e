import type { CommandSpec } from '../../../spec.js'
import { parseValues } from '../../../json-values.js'

export const configurationParameterSet: CommandSpec = {
  path: ['configuration', 'parameter', 'set'],
  summary: 'Patch a configuration group (merges the values)',
  args: [
    { name: 'configuration_group_id', description: 'Configuration group ID' },
    { name: 'values', description: 'Dictionary of the values to set', allowEmpty: true },
  ],
  output: 'none',
  examples: [`trove configuration parameter set 3c2f... '{"max_connections": 200}'`],
  async run(ctx, args) {
    const values = parseValues(String(args.values))
    const client = await ctx.client()
    await client.configurations.edit(String(args.configuration_group_id), values)
    return { kind: 'none' }
  },
}
