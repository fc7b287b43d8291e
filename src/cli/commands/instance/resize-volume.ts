import type { CommandSpec } from '../../spec.js'
import { findInstance } from '../../resolve.js'
import { intArg, waitAfterAction } from './action-util.js'

export const instanceResizeVolume: CommandSpec = {
  path: ['instance', 'resize', 'volume'],
  summary: 'Resize the volume size of an instance',
  args: [
    { name: 'instance', description: 'ID or name of the instance' },
    { name: 'size', description: 'New size of the instance disk volume in GB' },
  ],
  output: 'none',
  wait: true,
  examples: ['trove instance resize volume db1 2 --wait'],
  async run(ctx, args, opts) {
    const size = intArg('size', args.size)
    const client = await ctx.client()
    const { id } = await findInstance(client, String(args.instance))
    await client.instances.resizeVolume(id, size)
    if (opts.wait) await waitAfterAction(ctx, client, id, opts, (i) => (i.volume?.size === size ? undefined : `still has a ${String(i.volume?.size)} GB volume, not ${size} GB`))
    return { kind: 'none' }
  },
}
