import type { CommandSpec } from '../../spec.js'
import { findInstance } from '../../resolve.js'

export const logShow: CommandSpec = {
  path: ['log', 'show'],
  summary: 'Instructs Trove guest to show details of log',
  args: [
    { name: 'instance', description: 'Name or ID of the instance' },
    { name: 'log_name', description: 'Name of log to show' },
  ],
  output: 'show',
  examples: ['trove log show db1 general'],
  async run(ctx, args) {
    const client = await ctx.client()
    const inst = await findInstance(client, String(args.instance))
    return { kind: 'show', fields: { ...(await client.logs.show(inst.id, String(args.log_name))) } }
  },
}
