import type { CommandSpec } from '../../spec.js'
import { CliError, describeError } from '../../errors.js'
import { YES_OPTION, confirm } from '../../prompt.js'

export const datastoreDelete: CommandSpec = {
  path: ['datastore', 'delete'],
  summary: 'Deletes a datastore (admin)',
  args: [{ name: 'datastore', description: 'ID or name of the datastore' }],
  options: [YES_OPTION],
  output: 'none',
  examples: ['trove datastore delete redis --yes'],
  async run(ctx, args, opts) {
    const arg = String(args.datastore)
    const client = await ctx.client()
    await confirm(ctx, `Delete datastore ${arg}?`, opts)
    try {
      await client.datastores.delete(arg)
    } catch (e) {
      throw new CliError(`Failed to delete datastore ${arg}: ${describeError(e).message}`)
    }
    return { kind: 'none' }
  },
}
