import type { CommandSpec } from '../../spec.js'
import { findCluster } from '../../resolve.js'
import { clusterFields } from './fields.js'

export const clusterShow: CommandSpec = {
  path: ['cluster', 'show'],
  summary: 'Shows details of a database cluster',
  args: [{ name: 'cluster', description: 'ID or name of the cluster' }],
  output: 'show',
  examples: ['trove cluster show c1'],
  async run(ctx, args) {
    const client = await ctx.client()
    return { kind: 'show', fields: clusterFields(await findCluster(client, String(args.cluster))) }
  },
}
