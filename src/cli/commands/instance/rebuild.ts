import type { CommandSpec } from '../../spec.js'
import { instanceIdB } from './action-util.js'

export const instanceRebuild: CommandSpec = {
  path: ['instance', 'rebuild'],
  summary: 'Rebuilds an instance (the Compute Server)',
  description: "Admin only. The lab has no guest images (every guest is this host's trove agent), so the server refuses it (HTTP 501).",
  args: [
    { name: 'instance', description: 'ID or name of the instance' },
    { name: 'image', description: 'ID of the new guest image' },
  ],
  output: 'none',
  examples: ['trove --os-cloud trove-lab-admin instance rebuild db1 0b2ba3b4-7e27-4d39-a46d-0d5c5f8e5a8e'],
  async run(ctx, args) {
    const client = await ctx.client()
    await client.instances.rebuild(await instanceIdB(client, String(args.instance)), String(args.image))
    return { kind: 'none' }
  },
}
