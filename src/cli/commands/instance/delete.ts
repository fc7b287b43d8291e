import type { CommandSpec } from '../../spec.js'
import { CliError } from '../../errors.js'
import { describeError } from '../../errors.js'
import { instanceIdFor } from '../../resolve.js'
import { waitForInstance } from '../../ui/wait.js'
import { YES_OPTION, confirm } from '../../prompt.js'

export const instanceDelete: CommandSpec = {
  path: ['instance', 'delete'],
  summary: 'Delete one or more instances',
  args: [{ name: 'instance', description: 'Instance(s) to delete (name or ID)', variadic: true }],
  output: 'none',
  options: [YES_OPTION, { flags: '--force', description: 'Force delete the instance, will reset the instance status before deleting' }],
  wait: true,
  examples: ['trove instance delete db1', 'trove instance delete db1 db2 --wait', 'trove instance delete db1 --force --yes'],
  async run(ctx, args, opts) {
    const client = await ctx.client()
    const names = args.instance as string[]
    // All names are resolved before anything is deleted, as the openstack client does.
    const ids: string[] = []
    for (const n of names) ids.push(await instanceIdFor(client, n))
    await confirm(ctx, `Delete instance${names.length > 1 ? 's' : ''} ${names.join(', ')}?`, opts)
    let failed = false
    const accepted: string[] = []
    for (const id of ids) {
      try {
        if (opts.force) await client.instances.resetStatus(id)
        await client.instances.delete(id)
        ctx.io.stdout(`Request to delete database instance ${id} has been accepted.\n`)
        accepted.push(id)
      } catch (e) {
        ctx.io.stdout(`${describeError(e).message}\n`)
        failed = true
      }
    }
    if (opts.wait) for (const id of accepted) await waitForInstance(ctx, client, id, 'DELETED', opts)
    if (failed) throw new CliError('Unable to delete the specified database instance(s).')
    return { kind: 'none' }
  },
}
