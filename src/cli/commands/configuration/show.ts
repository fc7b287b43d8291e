import type { CommandSpec } from '../../spec.js'
import { findConfiguration } from '../../resolve.js'
import { configurationFields } from './fields.js'

export const configurationShow: CommandSpec = {
  path: ['configuration', 'show'],
  summary: 'Shows details of a database configuration group',
  args: [{ name: 'configuration_group', description: 'ID or name of the configuration group' }],
  output: 'show',
  examples: ['trove configuration show tuned'],
  async run(ctx, args) {
    const client = await ctx.client()
    return { kind: 'show', fields: configurationFields(await findConfiguration(client, String(args.configuration_group))) }
  },
}
