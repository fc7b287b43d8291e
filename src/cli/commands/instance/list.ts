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
    { flags: '--all-projects', description: 'Include database instances of all projects (admin only)' },
    { flags: '--project-id <project_id>', description: 'Include database instances of a specific project (admin only)' },
  ],
  examples: ['trove instance list', 'trove instance list -f json -c ID -c Status', 'trove --os-cloud trove-lab-admin instance list --all-projects'],
  async run(ctx, _args, opts) {
    const client = await ctx.client()
    const o = { limit: opts.limit ? Number(opts.limit) : undefined, marker: opts.marker as string | undefined, includeClustered: Boolean(opts.includeClustered ?? opts.include_clustered) }
    // One page, as the openstack client shows (links are not followed).
    if (opts.allProjects || opts.projectId) {
      const page = await client.mgmtInstances.page({ ...o, projectId: opts.projectId as string | undefined })
      return { kind: 'list', columns: [...LIST_COLUMNS, 'Server ID', 'Tenant ID'], rows: page.items.map((i) => [...listRow(i), i.server_id ?? '', i.tenant_id ?? '']) }
    }
    const page = await client.instances.page(o)
    return { kind: 'list', columns: LIST_COLUMNS, rows: page.items.map(listRow) }
  },
}
