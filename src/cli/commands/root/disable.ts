import type { CommandSpec } from '../../spec.js'
import { findInstance } from '../../resolve.js'

export const rootDisable: CommandSpec = {
  path: ['root', 'disable'],
  summary: 'Disables root for an instance',
  args: [{ name: 'instance', description: 'ID or name of the instance' }],
  output: 'none',
  examples: ['trove root disable db1'],
  async run(ctx, args) {
    const client = await ctx.client()
    await client.root.disable((await findInstance(client, String(args.instance))).id)
    return { kind: 'none' }
  },
}
