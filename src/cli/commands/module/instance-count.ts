import type { CommandSpec } from '../../spec.js'
import { findModule } from './find.js'

export const moduleInstanceCount: CommandSpec = {
  path: ['module', 'instance-count'],
  summary: 'Lists a count of the instances for each module md5',
  description: 'Legacy `trove module-instance-count`.',
  args: [{ name: 'module', description: 'ID or name of the module' }],
  options: [{ flags: '--include-clustered', description: 'Include instances that are part of a cluster' }],
  output: 'list',
  examples: ['trove module instance-count ping1'],
  async run(ctx, args, opts) {
    const client = await ctx.client()
    const m = await findModule(client, String(args.module))
    const counts = await client.modules.instanceCount(m.id, { includeClustered: !!opts.includeClustered })
    return {
      kind: 'list',
      columns: ['Module Name', 'Min Updated Date', 'Max Updated Date', 'Module MD5', 'Current', 'Count'],
      rows: counts.map((c) => [c.module_name, c.min_updated_date, c.max_updated_date, c.module_md5, c.current, c.instance_count]),
    }
  },
}
