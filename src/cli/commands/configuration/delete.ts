import type { CommandSpec } from '../../spec.js'
import { CliError, describeError } from '../../errors.js'
import { findConfiguration } from '../../resolve.js'
import { YES_OPTION, confirm } from '../../prompt.js'

export const configurationDelete: CommandSpec = {
  path: ['configuration', 'delete'],
  summary: 'Deletes a configuration group',
  args: [{ name: 'configuration_group', description: 'ID or name of the configuration group' }],
  output: 'none',
  options: [YES_OPTION],
  examples: ['trove configuration delete tuned'],
  async run(ctx, args, opts) {
    const client = await ctx.client()
    const arg = String(args.configuration_group)
    try {
      const cfg = await findConfiguration(client, arg)
      await confirm(ctx, `Delete configuration group ${cfg.name} (${cfg.id})?`, opts)
      await client.configurations.delete(cfg.id)
    } catch (e) {
      if (e instanceof CliError && e.exitCode !== 1) throw e
      throw new CliError(`Failed to delete configuration ${arg}: ${describeError(e).message}`)
    }
    return { kind: 'none' }
  },
}
