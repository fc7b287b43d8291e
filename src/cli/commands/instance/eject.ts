import type { CommandSpec } from '../../spec.js'
import { findInstance } from '../../resolve.js'
import { waitAfterAction } from './action-util.js'

export const instanceEject: CommandSpec = {
  path: ['instance', 'eject'],
  summary: 'Ejects a replica source from its replica set',
  description: 'Only when the source looks dead (no heartbeat for a while): its most advanced replica becomes the new source.',
  args: [{ name: 'instance', description: 'ID or name of the instance' }],
  output: 'none',
  wait: true,
  examples: ['trove instance eject db1 --wait'],
  async run(ctx, args, opts) {
    const client = await ctx.client()
    const { id } = await findInstance(client, String(args.instance))
    await client.instances.ejectReplicaSource(id)
    if (opts.wait) await waitAfterAction(ctx, client, id, opts, (i) => (i.replicas?.length ? 'still has replicas' : undefined))
    return { kind: 'none' }
  },
}
