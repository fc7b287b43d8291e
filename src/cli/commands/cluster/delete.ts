import type { CommandSpec } from '../../spec.js'
import { CliError, describeError } from '../../errors.js'
import { YES_OPTION, confirm } from '../../prompt.js'
import { findCluster } from '../../resolve.js'

export const clusterDelete: CommandSpec = {
  path: ['cluster', 'delete'],
  summary: 'Deletes a cluster',
  args: [{ name: 'cluster', description: 'ID or name of the cluster' }],
  options: [YES_OPTION],
  output: 'none',
  examples: ['trove cluster delete c1 --yes'],
  async run(ctx, args, opts) {
    const arg = String(args.cluster)
    const client = await ctx.client()
    try {
      const c = await findCluster(client, arg)
      await confirm(ctx, `Delete cluster ${c.name} (${c.id})?`, opts)
      await client.clusters.delete(c.id)
    } catch (e) {
      if (e instanceof CliError && e.exitCode !== 1) throw e
      throw new CliError(`Failed to delete cluster ${arg}: ${describeError(e).message}`)
    }
    return { kind: 'none' }
  },
}
