import type { CommandSpec } from '../../spec.js'
import { CliError, describeError } from '../../errors.js'
import { findInstance } from '../../resolve.js'
import { YES_OPTION, confirm } from '../../prompt.js'

export const dbDelete: CommandSpec = {
  path: ['db', 'delete'],
  summary: 'Deletes a database from an instance',
  args: [
    { name: 'instance', description: 'ID or name of the instance' },
    { name: 'database', description: 'Name of the database' },
  ],
  output: 'none',
  options: [YES_OPTION],
  examples: ['trove db delete db1 shop'],
  async run(ctx, args, opts) {
    const client = await ctx.client()
    const inst = await findInstance(client, String(args.instance))
    await confirm(ctx, `Delete database ${String(args.database)} of instance ${inst.name}?`, opts)
    try {
      await client.databases.delete(inst.id, String(args.database))
    } catch (e) {
      throw new CliError(`Failed to delete database ${String(args.database)}: ${describeError(e).message}`)
    }
    return { kind: 'none' }
  },
}
