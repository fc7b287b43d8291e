import type { Backup } from '../../../sdk/index.js'
import type { CommandSpec } from '../../spec.js'
import { findInstance } from '../../resolve.js'
import { INSTANCE_LIST_COLUMNS, listRow } from './fields.js'

export const backupListInstance: CommandSpec = {
  path: ['backup', 'list', 'instance'],
  summary: 'Lists available backups for an instance',
  args: [{ name: 'instance', description: 'ID or name of the instance.' }],
  options: [
    { flags: '--limit <limit>', description: 'Return up to N number of the most recent bcakups.' },
    { flags: '--marker <ID>', description: 'Begin displaying the results for IDs greater than the specified marker. When used with --limit, set this to the last ID displayed in the previous run.' },
  ],
  output: 'list',
  examples: ['trove backup list instance db1'],
  async run(ctx, args, opts) {
    const client = await ctx.client()
    const inst = await findInstance(client, String(args.instance))
    let items: Backup[]
    if (opts.limit !== undefined) {
      items = (await client.backups.pageForInstance(inst.id, { limit: String(opts.limit), marker: opts.marker as string | undefined })).items
    } else {
      items = []
      for await (const b of client.backups.listForInstance(inst.id, { marker: opts.marker as string | undefined })) items.push(b)
    }
    return { kind: 'list', columns: INSTANCE_LIST_COLUMNS, rows: items.map((b) => listRow(b, false)) }
  },
}
