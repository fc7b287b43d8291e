import type { CommandSpec } from '../../spec.js'
import { findModule } from './find.js'

export const moduleInstances: CommandSpec = {
  path: ['module', 'instances'],
  summary: 'Lists the instances that have a particular module applied',
  description: 'Legacy `trove module-instances`.',
  args: [{ name: 'module', description: 'ID or name of the module' }],
  options: [{ flags: '--include-clustered', description: 'Include instances that are part of a cluster' }],
  output: 'list',
  examples: ['trove module instances ping1'],
  async run(ctx, args, opts) {
    const client = await ctx.client()
    const m = await findModule(client, String(args.module))
    const rows: unknown[][] = []
    for await (const i of client.modules.instances(m.id, { includeClustered: !!opts.includeClustered }))
      rows.push([i.id, i.name, i.datastore?.type, i.datastore?.version, i.status, i.flavor?.id, i.volume?.size])
    return { kind: 'list', columns: ['ID', 'Name', 'Datastore', 'Datastore Version', 'Status', 'Flavor ID', 'Size'], rows }
  },
}
