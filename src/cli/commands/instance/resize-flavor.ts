import type { CommandSpec } from '../../spec.js'
import { findFlavor } from '../../resolve.js'
import { instanceIdB, waitAfterAction } from './action-util.js'

export const instanceResizeFlavor: CommandSpec = {
  path: ['instance', 'resize', 'flavor'],
  summary: 'Resize an instance with a new flavor',
  args: [
    { name: 'instance', description: 'ID or name of the instance' },
    { name: 'flavor', description: 'ID or name of the new flavor' },
  ],
  output: 'none',
  wait: true,
  examples: ['trove instance resize flavor db1 m1.small --wait'],
  async run(ctx, args, opts) {
    const client = await ctx.client()
    const id = await instanceIdB(client, String(args.instance))
    const flavor = await findFlavor(client, String(args.flavor))
    const flavorId = String(flavor.id ?? flavor.str_id)
    await client.instances.resizeFlavor(id, flavorId)
    if (opts.wait) await waitAfterAction(ctx, client, id, opts, (i) => (String(i.flavor.id) === flavorId ? undefined : `is still on flavor ${i.flavor.id}, not ${flavorId}`))
    return { kind: 'none' }
  },
}
