import type { CommandSpec } from '../../spec.js'
import { CliError } from '../../errors.js'
import { findInstance } from '../../resolve.js'
import type { DatabaseUserUpdate } from '../../../sdk/index.js'

export const userUpdateAttributes: CommandSpec = {
  path: ['user', 'update', 'attributes'],
  summary: "Updates a user's attributes on an instance. At least one optional argument must be provided",
  args: [
    { name: 'instance', description: 'Instance (name or ID)' },
    { name: 'name', description: 'Name of user' },
  ],
  options: [
    { flags: '--host <host>', description: 'Optional host of user' },
    { flags: '--new_name <new_name>', description: 'Optional new name of user' },
    { flags: '--new_password <new_password>', description: 'Optional new password of user' },
    { flags: '--new_host <new_host>', description: 'Optional new host of user' },
  ],
  output: 'none',
  examples: ['trove user update attributes db1 app --new_password n3w'],
  async run(ctx, args, opts) {
    const client = await ctx.client()
    const inst = await findInstance(client, String(args.instance))
    const changes: DatabaseUserUpdate = {}
    if (opts.new_name !== undefined) changes.name = String(opts.new_name)
    if (opts.new_password !== undefined) changes.password = String(opts.new_password)
    if (opts.new_host !== undefined) changes.host = String(opts.new_host)
    if (Object.keys(changes).length === 0) throw new CliError(`No updates specified for user ${String(args.name)}`)
    await client.users.update(inst.id, String(args.name), opts.host as string | undefined, changes)
    return { kind: 'none' }
  },
}
