import type { CommandSpec } from '../../spec.js'
import { findInstanceOrCluster } from '../../resolve.js'

export const rootEnable: CommandSpec = {
  path: ['root', 'enable'],
  summary: 'Enables root for an instance and resets if already exists',
  args: [{ name: 'instance_or_cluster', description: 'ID or name of the instance or cluster' }],
  options: [{ flags: '--root_password <root_password>', description: 'Root password to set' }],
  output: 'show',
  examples: ['trove root enable db1', 'trove root enable db1 -f value -c password'],
  async run(ctx, args, opts) {
    const client = await ctx.client()
    const t = await findInstanceOrCluster(client, String(args.instance_or_cluster))
    const u = await client.root.enable(t.id, opts.root_password as string | undefined, t.target)
    return { kind: 'show', fields: { name: u.name, password: u.password } }
  },
}
