import type { CommandSpec } from '../../spec.js'
import { findModule } from './find.js'

export const moduleShow: CommandSpec = {
  path: ['module', 'show'],
  summary: 'Shows details of a module',
  description: 'Legacy `trove module-show`.',
  args: [{ name: 'module', description: 'ID or name of the module' }],
  output: 'show',
  examples: ['trove module show ping1'],
  async run(ctx, args) {
    const client = await ctx.client()
    return { kind: 'show', fields: { ...(await findModule(client, String(args.module))) } }
  },
}
