import type { CommandSpec } from '../../spec.js'
import { findCluster, findInstance } from '../../resolve.js'

export const clusterShrink: CommandSpec = {
  path: ['cluster', 'shrink'],
  summary: 'Drops instances from a cluster',
  args: [
    { name: 'cluster', description: 'ID or name of the cluster' },
    { name: 'instances', description: 'Drop instance(s) from the cluster (name or ID)', variadic: true },
  ],
  output: 'none',
  examples: ['trove cluster shrink c1 c1-member-3'],
  async run(ctx, args) {
    const client = await ctx.client()
    const c = await findCluster(client, String(args.cluster))
    const ids: string[] = []
    for (const i of args.instances as string[]) ids.push((await findInstance(client, i)).id)
    await client.clusters.shrink(c.id, ids)
    return { kind: 'none' }
  },
}
