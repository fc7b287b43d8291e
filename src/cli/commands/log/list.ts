import type { CommandSpec } from '../../spec.js'
import { findInstance } from '../../resolve.js'

export const logList: CommandSpec = {
  path: ['log', 'list'],
  summary: 'Lists the log files available for instance',
  args: [{ name: 'instance', description: 'Name or ID of the instance' }],
  output: 'list',
  examples: ['trove log list db1'],
  async run(ctx, args) {
    const client = await ctx.client()
    const inst = await findInstance(client, String(args.instance))
    const logs = await client.logs.list(inst.id)
    return {
      kind: 'list',
      columns: ['Name', 'Type', 'Status', 'Published', 'Pending', 'Container', 'Prefix'],
      rows: logs.map((l) => [l.name, l.type, l.status, l.published, l.pending, l.container, l.prefix]),
    }
  },
}
