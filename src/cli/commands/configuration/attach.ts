import type { CommandSpec } from '../../spec.js'
import { configurationIdB, instanceIdB, waitAfterAction } from '../instance/action-util.js'

export const configurationAttach: CommandSpec = {
  path: ['configuration', 'attach'],
  summary: 'Attachs a configuration group to an instance',
  args: [
    { name: 'instance', description: 'ID or name of the instance' },
    { name: 'configuration', description: 'ID or name of the configuration group to attach to the instance' },
  ],
  output: 'none',
  wait: true,
  examples: ['trove configuration attach db1 tuned --wait'],
  async run(ctx, args, opts) {
    const client = await ctx.client()
    const id = await instanceIdB(client, String(args.instance))
    const cfg = await configurationIdB(client, String(args.configuration))
    await client.configurations.attach(id, cfg)
    // A group with a restart_required key leaves the instance RESTART_REQUIRED (a final state here).
    if (opts.wait) await waitAfterAction(ctx, client, id, opts, undefined, ['ACTIVE', 'RESTART_REQUIRED'])
    return { kind: 'none' }
  },
}
