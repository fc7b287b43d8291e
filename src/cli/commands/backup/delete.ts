import type { CommandSpec } from '../../spec.js'
import { CliError, describeError } from '../../errors.js'
import { YES_OPTION, confirm } from '../../prompt.js'
import { waitForBackup } from '../../ui/wait.js'
import { backupIdFor } from './fields.js'

export const backupDelete: CommandSpec = {
  path: ['backup', 'delete'],
  summary: "Deletes backups (an incremental backup's children go with it)",
  args: [{ name: 'backup', description: 'ID or name of the backup(s).', variadic: true }],
  output: 'none',
  options: [YES_OPTION],
  wait: true,
  examples: ['trove backup delete b1', 'trove backup delete b1 b2 --wait'],
  async run(ctx, args, opts) {
    const client = await ctx.client()
    const names = args.backup as string[]
    // All names are resolved before anything is deleted, as the openstack client does.
    const ids: string[] = []
    for (const n of names) ids.push(await backupIdFor(client, n))
    await confirm(ctx, `Delete backup${names.length > 1 ? 's' : ''} ${names.join(', ')}?`, opts)
    let failed = false
    const accepted: string[] = []
    for (const id of ids) {
      try {
        await client.backups.delete(id)
        ctx.io.stdout(`Request to delete database backup ${id} has been accepted.\n`)
        accepted.push(id)
      } catch (e) {
        ctx.io.stdout(`${describeError(e).message}\n`)
        failed = true
      }
    }
    if (opts.wait) for (const id of accepted) await waitForBackup(ctx, client, id, 'DELETED', opts)
    if (failed) throw new CliError('Unable to delete the specified database backup(s).')
    return { kind: 'none' }
  },
}
