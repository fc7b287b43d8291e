import type { CommandSpec } from '../../spec.js'
import { findInstance } from '../../resolve.js'

export const instanceResetStatus: CommandSpec = {
  path: ['instance', 'reset', 'status'],
  summary: 'Set the task status of an instance to NONE if the instance is in BUILD or ERROR state. Resetting task status of an instance in BUILD state will allow the instance to be deleted',
  args: [{ name: 'instance', description: 'ID or name of the instance' }],
  output: 'none',
  examples: ['trove instance reset status db1'],
  async run(ctx, args) {
    const client = await ctx.client()
    const { id } = await findInstance(client, String(args.instance))
    await client.instances.resetStatus(id)
    return { kind: 'none' }
  },
}
