import type { CommandSpec } from '../../spec.js'
import { findCluster } from '../../resolve.js'

export const clusterUpgrade: CommandSpec = {
  path: ['cluster', 'upgrade'],
  summary: 'Upgrades a cluster to a new datastore version',
  args: [
    { name: 'cluster', description: 'ID or name of the cluster' },
    { name: 'datastore_version', description: 'A datastore version name or ID' },
  ],
  output: 'none',
  examples: ['trove cluster upgrade c1 4.2'],
  async run(ctx, args) {
    const client = await ctx.client()
    await client.clusters.upgrade((await findCluster(client, String(args.cluster))).id, String(args.datastore_version))
    return { kind: 'none' }
  },
}
