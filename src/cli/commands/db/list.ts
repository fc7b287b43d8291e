import type { CommandSpec } from '../../spec.js'
import { findInstance } from '../../resolve.js'

export const dbList: CommandSpec = {
  path: ['db', 'list'],
  summary: 'Get a list of all Databases from the instance',
  args: [{ name: 'instance', description: 'ID or name of the instance' }],
  output: 'list',
  examples: ['trove db list db1'],
  async run(ctx, args) {
    const client = await ctx.client()
    const inst = await findInstance(client, String(args.instance))
    const rows: unknown[][] = []
    for await (const d of client.databases.list(inst.id)) rows.push([d.name])
    return { kind: 'list', columns: ['Name'], rows }
  },
}
