import type { CommandSpec } from '../../spec.js'
import { findInstance } from '../../resolve.js'

export const moduleListInstance: CommandSpec = {
  path: ['module', 'list-instance'],
  summary: 'Lists the modules that have been applied to an instance',
  description: 'Legacy `trove module-list-instance`.',
  args: [{ name: 'instance', description: 'ID or name of the instance' }],
  output: 'list',
  examples: ['trove module list-instance db1'],
  async run(ctx, args) {
    const client = await ctx.client()
    const inst = await findInstance(client, String(args.instance))
    const modules = await client.modules.listForInstance(inst.id)
    return { kind: 'list', columns: ['ID', 'Name', 'Type', 'Md5', 'Created', 'Updated'], rows: modules.map((m) => [m.id, m.name, m.type, m.md5, m.created, m.updated]) }
  },
}
