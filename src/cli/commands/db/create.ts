import type { CommandSpec } from '../../spec.js'
import { findInstance } from '../../resolve.js'
import type { DatabaseCreate } from '../../../sdk/index.js'

export const dbCreate: CommandSpec = {
  path: ['db', 'create'],
  summary: 'Creates a new database on an instance',
  args: [
    { name: 'instance', description: 'ID or name of the instance' },
    { name: 'name', description: 'Name of the database' },
  ],
  options: [
    { flags: '--character_set <character_set>', description: 'Optional character set for database' },
    { flags: '--collate <collate>', description: 'Optional collation type for database' },
  ],
  output: 'none',
  examples: ['trove db create db1 shop', 'trove db create db1 shop --character_set utf8mb4 --collate utf8mb4_general_ci'],
  async run(ctx, args, opts) {
    const client = await ctx.client()
    const inst = await findInstance(client, String(args.instance))
    const db: DatabaseCreate = { name: String(args.name) }
    if (opts.collate !== undefined) db.collate = String(opts.collate)
    if (opts.character_set !== undefined) db.character_set = String(opts.character_set)
    await client.databases.create(inst.id, [db])
    return { kind: 'none' }
  },
}
