import type { CommandSpec } from '../../spec.js'
import { findFlavor } from '../../resolve.js'

export const flavorShow: CommandSpec = {
  path: ['flavor', 'show'],
  summary: 'Show details of a database instance flavor',
  args: [{ name: 'flavor', description: 'ID or name of the flavor' }],
  output: 'show',
  async run(ctx, args) {
    const f = await findFlavor(await ctx.client(), String(args.flavor))
    const { links: _links, str_id, ...rest } = f
    return { kind: 'show', fields: { ...rest, id: f.id ?? str_id } }
  },
}
