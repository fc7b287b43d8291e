import type { CommandSpec } from '../../spec.js'
import { LIST_COLUMNS, listRow } from './fields.js'

export const instanceList: CommandSpec = {
  path: ['instance', 'list'],
  summary: 'List database instances',
  output: 'list',
  options: [
    { flags: '--limit <limit>', description: 'Limit the number of results displayed' },
    { flags: '--marker <ID>', description: 'Begin displaying the results for IDs greater than the specified marker' },
    { flags: '--include-clustered, --include_clustered', description: 'Include instances that are part of a cluster (default False)' },
  ],
  examples: ['trove instance list', 'trove instance list -f json -c ID -c Status'],
  async run(ctx, _args, opts) {
    const client = await ctx.client()
    // One page, as the openstack client shows (links are not followed).
    const page = await client.instances.page({ limit: opts.limit ? Number(opts.limit) : undefined, marker: opts.marker as string | undefined, includeClustered: Boolean(opts.includeClustered ?? opts.include_clustered) })
    return { kind: 'list', columns: LIST_COLUMNS, rows: page.items.map(listRow) }
  },
}
