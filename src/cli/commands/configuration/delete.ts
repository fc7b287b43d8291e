import type { CommandSpec } from '../../spec.js'
import { CliError, describeError } from '../../errors.js'
import { findConfiguration } from '../../resolve.js'

export const configurationDelete: CommandSpec = {
  path: ['configuration', 'delete'],
  summary: 'Deletes a configuration group',
  args: [{ name: 'configuration_group', description: 'ID or name of the configuration group' }],
  output: 'none',
  examples: ['trove configuration delete tuned'],
  async run(ctx, args) {
    const client = await ctx.client()
    const arg = String(args.configuration_group)
    try {
      await client.configurations.delete((await findConfiguration(client, arg)).id)
    } catch (e) {
      throw new CliError(`Failed to delete configuration ${arg}: ${describeError(e).message}`)
    }
    return { kind: 'none' }
  },
}
