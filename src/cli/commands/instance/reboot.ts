import type { CommandSpec } from '../../spec.js'
import { instanceIdB, waitAfterAction } from './action-util.js'

export const instanceReboot: CommandSpec = {
  path: ['instance', 'reboot'],
  summary: 'Reboots an instance (the Compute Server)',
  description: 'Admin only. In the lab the "server" is the instance\'s guest agent: it is restarted, and the engine with it.',
  args: [{ name: 'instance', description: 'ID or name of the instance' }],
  output: 'none',
  wait: true,
  examples: ['trove --os-cloud trove-lab-admin instance reboot db1 --wait'],
  async run(ctx, args, opts) {
    const client = await ctx.client()
    // Upstream puts the resolved object's repr in the URL for a name (cli.md 7.1): the id is used here.
    const id = await instanceIdB(client, String(args.instance))
    await client.instances.reboot(id)
    if (opts.wait) await waitAfterAction(ctx, client, id, opts)
    return { kind: 'none' }
  },
}
