import type { CommandSpec } from '../../spec.js'
import { findInstance } from '../../resolve.js'

export const userGrantAccess: CommandSpec = {
  path: ['user', 'grant', 'access'],
  summary: 'Grants access to a database(s) for a user',
  args: [
    { name: 'instance', description: 'Instance (name or ID)' },
    { name: 'name', description: 'Name of user' },
    { name: 'databases', description: 'List of databases', variadic: true },
  ],
  options: [{ flags: '--host <host>', description: 'Optional host of user' }],
  output: 'none',
  examples: ['trove user grant access db1 app shop orders'],
  async run(ctx, args, opts) {
    const client = await ctx.client()
    const inst = await findInstance(client, String(args.instance))
    await client.users.grant(inst.id, String(args.name), args.databases as string[], opts.host as string | undefined)
    return { kind: 'none' }
  },
}
