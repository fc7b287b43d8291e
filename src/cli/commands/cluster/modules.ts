import type { CommandSpec } from '../../spec.js'
import { findCluster } from '../../resolve.js'

export const clusterModules: CommandSpec = {
  path: ['cluster', 'modules'],
  summary: 'Lists all modules for each instance of a cluster',
  args: [{ name: 'cluster', description: 'ID or name of the cluster' }],
  output: 'list',
  examples: ['trove cluster modules c1'],
  async run(ctx, args) {
    const client = await ctx.client()
    const c = await findCluster(client, String(args.cluster))
    const rows: unknown[][] = []
    for (const i of c.instances ?? []) {
      for (const m of await client.clusters.memberModules(i.id)) rows.push([i.name, m.name, m.type, m.md5, m.created, m.updated])
    }
    // The openstack client's literal column names.
    return { kind: 'list', columns: ['instance_name', 'Module Name', 'Module Type', 'md5', 'created', 'updated'], rows }
  },
}
