import type { CommandSpec } from '../../spec.js'
import { findInstance } from '../../resolve.js'

export const userRevokeAccess: CommandSpec = {
  path: ['user', 'revoke', 'access'],
  summary: 'Revokes access to a database for a user',
  args: [
    { name: 'instance', description: 'Instance (name or ID)' },
    { name: 'name', description: 'Name of user' },
    { name: 'databases', description: 'A single database' },
  ],
  options: [{ flags: '--host <host>', description: 'Optional host of user' }],
  output: 'none',
  examples: ['trove user revoke access db1 app shop'],
  async run(ctx, args, opts) {
    const client = await ctx.client()
    const inst = await findInstance(client, String(args.instance))
    await client.users.revoke(inst.id, String(args.name), String(args.databases), opts.host as string | undefined)
    return { kind: 'none' }
  },
}
