import type { CommandSpec } from '../../spec.js'
import { findCluster } from '../../resolve.js'

export const clusterResetStatus: CommandSpec = {
  path: ['cluster', 'reset', 'status'],
  summary: 'Set the cluster task to NONE',
  args: [{ name: 'cluster', description: 'ID or name of the cluster' }],
  output: 'none',
  examples: ['trove cluster reset status c1'],
  async run(ctx, args) {
    const client = await ctx.client()
    await client.clusters.resetStatus((await findCluster(client, String(args.cluster))).id)
    return { kind: 'none' }
  },
}
