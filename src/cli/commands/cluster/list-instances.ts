import type { CommandSpec } from '../../spec.js'
import { findCluster } from '../../resolve.js'

export const clusterListInstances: CommandSpec = {
  path: ['cluster', 'list', 'instances'],
  summary: 'Lists all instances of a cluster',
  args: [{ name: 'cluster', description: 'ID or name of the cluster' }],
  output: 'list',
  examples: ['trove cluster list instances c1'],
  async run(ctx, args) {
    const client = await ctx.client()
    const c = await findCluster(client, String(args.cluster))
    return {
      kind: 'list',
      columns: ['ID', 'Name', 'Flavor ID', 'Size', 'Status'],
      rows: (c.instances ?? []).map((i) => [i.id, i.name, i.flavor?.id ?? '', i.volume?.size ?? '', i.status ?? '']),
    }
  },
}
