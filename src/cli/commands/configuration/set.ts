import type { CommandSpec } from '../../spec.js'
import { parseValues } from '../../json-values.js'
import type { ConfigurationUpdate } from '../../../sdk/index.js'

export const configurationSet: CommandSpec = {
  path: ['configuration', 'set'],
  summary: 'Update a configuration group (replaces all its values)',
  args: [
    { name: 'configuration_group_id', description: 'Configuration group ID' },
    { name: 'values', description: 'Dictionary of the new values to set', allowEmpty: true },
  ],
  options: [
    { flags: '--name <name>', description: 'New name of the configuration group' },
    { flags: '--description <description>', description: 'An optional description for the configuration group' },
  ],
  output: 'none',
  examples: [`trove configuration set 3c2f... '{"max_connections": 200}'`],
  async run(ctx, args, opts) {
    const values = parseValues(String(args.values))
    const client = await ctx.client()
    const body: ConfigurationUpdate = { values }
    if (opts.name !== undefined) body.name = String(opts.name)
    if (opts.description !== undefined) body.description = String(opts.description)
    await client.configurations.update(String(args.configuration_group_id), body)
    return { kind: 'none' }
  },
}
