import type { CommandSpec } from '../../spec.js'
import { YES_OPTION, confirm } from '../../prompt.js'
import { findCluster } from '../../resolve.js'

export const clusterForceDelete: CommandSpec = {
  path: ['cluster', 'force', 'delete'],
  summary: 'Force delete a cluster',
  args: [{ name: 'cluster', description: 'ID or name of the cluster' }],
  options: [YES_OPTION],
  output: 'none',
  examples: ['trove cluster force delete c1 --yes'],
  async run(ctx, args, opts) {
    const client = await ctx.client()
    const c = await findCluster(client, String(args.cluster))
    await confirm(ctx, `Force delete cluster ${c.name} (${c.id})?`, opts)
    await client.clusters.forceDelete(c.id)
    return { kind: 'none' }
  },
}
