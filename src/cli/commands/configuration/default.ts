import type { CommandSpec } from '../../spec.js'
import { findInstance } from '../../resolve.js'

export const configurationDefault: CommandSpec = {
  path: ['configuration', 'default'],
  summary: 'Shows the default configuration of an instance',
  args: [{ name: 'instance', description: 'ID or name of the instance' }],
  output: 'show',
  examples: ['trove configuration default db1'],
  async run(ctx, args) {
    const client = await ctx.client()
    const { id } = await findInstance(client, String(args.instance))
    return { kind: 'show', fields: await client.instances.defaultConfiguration(id) }
  },
}
