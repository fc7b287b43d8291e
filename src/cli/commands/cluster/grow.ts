import type { ClusterInstanceCreate } from '../../../sdk/index.js'
import type { CommandSpec } from '../../spec.js'
import { CliError } from '../../errors.js'
import { findCluster } from '../../resolve.js'
import { parseClusterInstance } from './fields.js'

export const clusterGrow: CommandSpec = {
  path: ['cluster', 'grow'],
  summary: 'Adds more instances to a cluster',
  args: [{ name: 'cluster', description: 'ID or name of the cluster' }],
  options: [
    {
      flags: '--instance <flavor=<flavor_name_or_id>,volume=<volume>,...>',
      description: 'Add an instance to the cluster (as cluster create, plus name= and related_to=). Repeat for each instance',
      repeatable: true,
    },
  ],
  output: 'none',
  examples: ['trove cluster grow c1 --instance flavor=m1.small,volume=2,name=c1-3'],
  async run(ctx, args, opts) {
    const specs = (opts.instance as string[] | undefined) ?? []
    if (!specs.length) throw new CliError('Missing argument(s): instance')
    const client = await ctx.client()
    const c = await findCluster(client, String(args.cluster))
    const nodes: ClusterInstanceCreate[] = []
    for (const s of specs) nodes.push(await parseClusterInstance(client, s, true))
    await client.clusters.grow(c.id, nodes)
    return { kind: 'none' }
  },
}
