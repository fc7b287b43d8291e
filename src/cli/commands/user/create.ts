import type { CommandSpec } from '../../spec.js'
import { findInstance } from '../../resolve.js'
import type { DatabaseUserCreate } from '../../../sdk/index.js'

export const userCreate: CommandSpec = {
  path: ['user', 'create'],
  summary: 'Creates a user on an instance',
  args: [
    { name: 'instance', description: 'Instance (name or ID)' },
    { name: 'name', description: 'Name of user' },
    { name: 'password', description: 'Password of user' },
  ],
  options: [
    { flags: '--host <host>', description: 'Optional host of user' },
    { flags: '--databases <databases...>', description: 'Optional list of databases' },
  ],
  output: 'none',
  examples: ['trove user create db1 app s3cret --databases shop'],
  async run(ctx, args, opts) {
    const client = await ctx.client()
    const inst = await findInstance(client, String(args.instance))
    const dbs = (opts.databases as string[] | undefined) ?? []
    const user: DatabaseUserCreate = { name: String(args.name), password: String(args.password), databases: dbs.map((name) => ({ name })) }
    if (opts.host !== undefined) user.host = String(opts.host)
    await client.users.create(inst.id, [user])
    return { kind: 'none' }
  },
}
