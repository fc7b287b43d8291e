import type { CommandSpec } from '../../spec.js'
import { findInstance } from '../../resolve.js'
import { waitAfterAction } from './action-util.js'

export const instanceUpgrade: CommandSpec = {
  path: ['instance', 'upgrade'],
  summary: 'Upgrades an instance to a new datastore version',
  args: [
    { name: 'instance', description: 'ID or name of the instance' },
    { name: 'datastore_version', description: 'ID or name of the datastore version' },
  ],
  output: 'none',
  wait: true,
  examples: ['trove instance upgrade db1 15-lab --wait'],
  async run(ctx, args, opts) {
    const client = await ctx.client()
    const { id } = await findInstance(client, String(args.instance))
    const version = String(args.datastore_version)
    await client.instances.upgrade(id, version)
    // The instance names its version by name; the argument may be a name or an id.
    const target = (await client.instances.get(id)).datastore.version
    if (opts.wait) await waitAfterAction(ctx, client, id, opts, (i) => (i.datastore.version === target ? undefined : `is back on datastore version ${String(i.datastore.version)}`))
    return { kind: 'none' }
  },
}
