import type { CommandSpec } from '../../spec.js'
import { findInstance } from '../../resolve.js'
import { findModule } from './find.js'

export const moduleRemove: CommandSpec = {
  path: ['module', 'remove'],
  summary: 'Remove a module from an instance',
  description: 'Legacy `trove module-remove`.',
  args: [
    { name: 'instance', description: 'ID or name of the instance' },
    { name: 'module', description: 'ID or name of the module' },
  ],
  output: 'none',
  examples: ['trove module remove db1 ping1'],
  async run(ctx, args) {
    const client = await ctx.client()
    const inst = await findInstance(client, String(args.instance))
    const m = await findModule(client, String(args.module))
    await client.modules.remove(inst.id, m.id)
    return { kind: 'none' }
  },
}
