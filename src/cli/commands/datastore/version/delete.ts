import type { CommandSpec } from '../../../spec.js'
import { CliError, describeError } from '../../../errors.js'

export const datastoreVersionDelete: CommandSpec = {
  path: ['datastore', 'version', 'delete'],
  summary: 'Deletes a datastore version (admin)',
  args: [{ name: 'datastore_version', description: 'ID of the datastore version' }],
  output: 'none',
  examples: ['trove datastore version delete 3c2f...'],
  async run(ctx, args) {
    const id = String(args.datastore_version)
    try {
      await (await ctx.client()).mgmtDatastoreVersions.delete(id)
    } catch (e) {
      throw new CliError(`Failed to delete datastore version ${id}: ${describeError(e).message}`)
    }
    return { kind: 'none' }
  },
}
