import type { CommandSpec } from '../../spec.js'
import { instanceIdB, waitAfterAction } from '../instance/action-util.js'

export const configurationDetach: CommandSpec = {
  path: ['configuration', 'detach'],
  summary: 'Detachs a configuration group from an instance',
  args: [{ name: 'instance', description: 'ID or name of the instance' }],
  output: 'none',
  wait: true,
  examples: ['trove configuration detach db1'],
  async run(ctx, args, opts) {
    const client = await ctx.client()
    const id = await instanceIdB(client, String(args.instance))
    await client.configurations.detach(id)
    if (opts.wait) await waitAfterAction(ctx, client, id, opts, undefined, ['ACTIVE', 'RESTART_REQUIRED'])
    return { kind: 'none' }
  },
}
