import type { CommandSpec } from '../../spec.js'
import { findInstance } from '../../resolve.js'
import { waitAfterAction } from './action-util.js'

export const instanceRestart: CommandSpec = {
  path: ['instance', 'restart'],
  summary: 'Restarts an instance',
  args: [{ name: 'instance', description: 'ID or name of the instance' }],
  output: 'none',
  wait: true,
  examples: ['trove instance restart db1 --wait'],
  async run(ctx, args, opts) {
    const client = await ctx.client()
    const { id } = await findInstance(client, String(args.instance))
    await client.instances.restart(id)
    if (opts.wait) await waitAfterAction(ctx, client, id, opts)
    return { kind: 'none' }
  },
}
