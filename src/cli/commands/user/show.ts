import type { CommandSpec } from '../../spec.js'
import { findInstance } from '../../resolve.js'

export const userShow: CommandSpec = {
  path: ['user', 'show'],
  summary: 'Shows details of a database user of an instance',
  args: [
    { name: 'instance', description: 'Instance (name or ID)' },
    { name: 'name', description: 'Name of user' },
  ],
  options: [{ flags: '--host <host>', description: 'Optional host of user' }],
  output: 'show',
  examples: ['trove user show db1 app', 'trove user show db1 app --host %'],
  async run(ctx, args, opts) {
    const client = await ctx.client()
    const inst = await findInstance(client, String(args.instance))
    const user = await client.users.get(inst.id, String(args.name), opts.host as string | undefined)
    return { kind: 'show', fields: { ...user } }
  },
}
