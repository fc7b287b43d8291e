import type { CommandSpec } from '../../spec.js'
import { findModule } from './find.js'

export const moduleDelete: CommandSpec = {
  path: ['module', 'delete'],
  summary: 'Deletes a module',
  description: 'Legacy `trove module-delete`.',
  args: [{ name: 'module', description: 'ID or name of the module' }],
  output: 'none',
  examples: ['trove module delete ping1'],
  async run(ctx, args) {
    const client = await ctx.client()
    await client.modules.delete((await findModule(client, String(args.module))).id)
    return { kind: 'none' }
  },
}
