import type { CommandSpec } from '../../spec.js'
import { findInstance } from '../../resolve.js'
import { showFields } from './fields.js'

export const instanceShow: CommandSpec = {
  path: ['instance', 'show'],
  summary: 'Show instance details',
  args: [{ name: 'instance', description: 'Instance (name or ID)' }],
  output: 'show',
  examples: ['trove instance show db1', 'trove instance show db1 -f value -c status'],
  async run(ctx, args) {
    const client = await ctx.client()
    return { kind: 'show', fields: showFields(await findInstance(client, String(args.instance))) }
  },
}
