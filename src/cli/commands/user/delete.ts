import type { CommandSpec } from '../../spec.js'
import { CliError, describeError } from '../../errors.js'
import { findInstance } from '../../resolve.js'
import { YES_OPTION, confirm } from '../../prompt.js'

export const userDelete: CommandSpec = {
  path: ['user', 'delete'],
  summary: 'Deletes a user from an instance',
  args: [
    { name: 'instance', description: 'Instance (name or ID)' },
    { name: 'name', description: 'Name of user' },
  ],
  options: [{ flags: '--host <host>', description: 'Optional host of user' }, YES_OPTION],
  output: 'none',
  examples: ['trove user delete db1 app'],
  async run(ctx, args, opts) {
    const client = await ctx.client()
    const inst = await findInstance(client, String(args.instance))
    await confirm(ctx, `Delete user ${String(args.name)} of instance ${inst.name}?`, opts)
    try {
      await client.users.delete(inst.id, String(args.name), opts.host as string | undefined)
    } catch (e) {
      throw new CliError(`Failed to delete user ${String(args.name)}: ${describeError(e).message}`)
    }
    return { kind: 'none' }
  },
}
