import type { CommandSpec } from '../../spec.js'
import { findInstance } from '../../resolve.js'
import { waitAfterAction } from './action-util.js'

export const instanceDetach: CommandSpec = {
  path: ['instance', 'detach'],
  summary: 'Detaches a replica instance from its replication source',
  description: 'The replica becomes a standalone, writable instance.',
  args: [{ name: 'instance', description: 'ID or name of the instance' }],
  output: 'none',
  wait: true,
  examples: ['trove instance detach db1-replica --wait'],
  async run(ctx, args, opts) {
    const client = await ctx.client()
    const { id } = await findInstance(client, String(args.instance))
    await client.instances.detachReplica(id)
    if (opts.wait) await waitAfterAction(ctx, client, id, opts, (i) => (i.replica_of ? 'is still a replica' : undefined))
    return { kind: 'none' }
  },
}
