import type { CommandSpec } from '../../spec.js'
import { findInstance } from '../../resolve.js'
import { waitAfterAction } from './action-util.js'

export const instancePromote: CommandSpec = {
  path: ['instance', 'promote'],
  summary: 'Promotes a replica to be the new replica source of its set',
  description: 'The old replica source and the other replicas then replicate from it.',
  args: [{ name: 'instance', description: 'ID or name of the instance' }],
  output: 'none',
  wait: true,
  examples: ['trove instance promote db1-replica --wait'],
  async run(ctx, args, opts) {
    const client = await ctx.client()
    const { id } = await findInstance(client, String(args.instance))
    await client.instances.promoteToReplicaSource(id)
    if (opts.wait) await waitAfterAction(ctx, client, id, opts, (i) => (i.replica_of ? 'is still a replica' : undefined))
    return { kind: 'none' }
  },
}
