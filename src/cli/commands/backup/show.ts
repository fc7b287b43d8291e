import type { CommandSpec } from '../../spec.js'
import { findBackup, showData } from './fields.js'

export const backupShow: CommandSpec = {
  path: ['backup', 'show'],
  summary: 'Shows the details of a backup',
  args: [{ name: 'backup', description: 'ID or name of the backup' }],
  output: 'show',
  examples: ['trove backup show b1', 'trove backup show b1 -f value -c status'],
  async run(ctx, args) {
    const client = await ctx.client()
    return showData(await findBackup(client, String(args.backup)))
  },
}
