import type { CommandSpec } from '../../spec.js'
import { findInstance } from '../../resolve.js'
import { findModule } from './find.js'

export const moduleApply: CommandSpec = {
  path: ['module', 'apply'],
  summary: 'Apply modules to an instance',
  description: 'Legacy `trove module-apply`.',
  args: [
    { name: 'instance', description: 'ID or name of the instance' },
    { name: 'modules', description: 'ID or name of the modules', variadic: true },
  ],
  output: 'list',
  examples: ['trove module apply db1 ping1'],
  async run(ctx, args) {
    const client = await ctx.client()
    const inst = await findInstance(client, String(args.instance))
    const ids: string[] = []
    for (const m of args.modules as string[]) ids.push((await findModule(client, m)).id)
    const results = await client.modules.apply(inst.id, ids)
    return {
      kind: 'list',
      columns: ['Name', 'Type', 'Datastore', 'Version', 'Status', 'Message'],
      rows: results.map((m) => [m.name, m.type, m.datastore, m.datastore_version, m.status, m.message]),
    }
  },
}
