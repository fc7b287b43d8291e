import type { CommandSpec } from '../../spec.js'
import { CliError, describeError } from '../../errors.js'
import { findInstance } from '../../resolve.js'
import { waitForInstance } from '../../ui/wait.js'

export const instanceForceDelete: CommandSpec = {
  path: ['instance', 'force', 'delete'],
  summary: 'Force delete an instance',
  args: [{ name: 'instance', description: 'ID or name of the instance' }],
  output: 'none',
  wait: true,
  examples: ['trove instance force delete db1'],
  async run(ctx, args, opts) {
    const client = await ctx.client()
    const arg = String(args.instance)
    const { id } = await findInstance(client, arg)
    await client.instances.resetStatus(id)
    try {
      await client.instances.delete(id)
    } catch (e) {
      throw new CliError(`Failed to delete instance ${arg}: ${describeError(e).message}`)
    }
    if (opts.wait) await waitForInstance(ctx, client, id, 'DELETED', opts)
    return { kind: 'none' }
  },
}
