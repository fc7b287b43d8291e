import type { CommandSpec } from '../../spec.js'
import { findInstanceOrCluster } from '../../resolve.js'

export const rootShow: CommandSpec = {
  path: ['root', 'show'],
  summary: 'Gets status if root was ever enabled for an instance or cluster',
  args: [{ name: 'instance_or_cluster', description: 'ID or name of the instance or cluster' }],
  output: 'show',
  examples: ['trove root show db1'],
  async run(ctx, args) {
    const client = await ctx.client()
    const t = await findInstanceOrCluster(client, String(args.instance_or_cluster))
    return { kind: 'show', fields: { is_root_enabled: await client.root.isEnabled(t.id, t.target) } }
  },
}
