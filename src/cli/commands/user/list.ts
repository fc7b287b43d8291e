import type { CommandSpec } from '../../spec.js'
import { findInstance } from '../../resolve.js'

export const userList: CommandSpec = {
  path: ['user', 'list'],
  summary: 'Lists the users for an instance',
  args: [{ name: 'instance', description: 'Instance (name or ID)' }],
  output: 'list',
  examples: ['trove user list db1'],
  async run(ctx, args) {
    const client = await ctx.client()
    const inst = await findInstance(client, String(args.instance))
    const rows: unknown[][] = []
    for await (const u of client.users.list(inst.id)) rows.push([u.name, u.host, (u.databases ?? []).map((d) => d.name).join(', ')])
    return { kind: 'list', columns: ['Name', 'Host', 'Databases'], rows }
  },
}
