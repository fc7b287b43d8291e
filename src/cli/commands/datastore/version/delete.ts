import type { CommandSpec } from '../../../spec.js'
import { CliError, describeError } from '../../../errors.js'
import { YES_OPTION, confirm } from '../../../prompt.js'

export const datastoreVersionDelete: CommandSpec = {
  path: ['datastore', 'version', 'delete'],
  summary: 'Deletes a datastore version (admin)',
  args: [{ name: 'datastore_version', description: 'ID of the datastore version' }],
  output: 'none',
  options: [YES_OPTION],
  examples: ['trove datastore version delete 3c2f...'],
  async run(ctx, args, opts) {
    const id = String(args.datastore_version)
    await confirm(ctx, `Delete datastore version ${id}?`, opts)
    try {
      await (await ctx.client()).mgmtDatastoreVersions.delete(id)
    } catch (e) {
      throw new CliError(`Failed to delete datastore version ${id}: ${describeError(e).message}`)
    }
    return { kind: 'none' }
  },
}
