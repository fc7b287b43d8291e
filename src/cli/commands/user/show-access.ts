import type { CommandSpec } from '../../spec.js'
import { findInstance } from '../../resolve.js'

export const userShowAccess: CommandSpec = {
  path: ['user', 'show', 'access'],
  summary: 'Shows access details of a user of an instance',
  args: [
    { name: 'instance', description: 'Instance (name or ID)' },
    { name: 'name', description: 'Name of user' },
  ],
  options: [{ flags: '--host <host>', description: 'Optional host of user' }],
  output: 'list',
  examples: ['trove user show access db1 app'],
  async run(ctx, args, opts) {
    const client = await ctx.client()
    const inst = await findInstance(client, String(args.instance))
    const dbs = await client.users.listAccess(inst.id, String(args.name), opts.host as string | undefined)
    return { kind: 'list', columns: ['Name'], rows: dbs.map((d) => [d.name]) }
  },
}
