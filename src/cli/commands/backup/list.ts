import type { Backup } from '../../../sdk/index.js'
import type { CommandSpec } from '../../spec.js'
import { LIST_COLUMNS, instanceRefFor, listRow } from './fields.js'

export const backupList: CommandSpec = {
  path: ['backup', 'list'],
  summary: 'List database backups',
  options: [
    { flags: '--limit <limit>', description: 'Return up to N number of the most recent bcakups.' },
    { flags: '--marker <ID>', description: 'Begin displaying the results for IDs greater than the specified marker. When used with --limit, set this to the last ID displayed in the previous run.' },
    { flags: '--datastore <datastore>', description: 'ID or name of the datastore (to filter backups by).' },
    { flags: '--instance-id <INSTANCE_ID>', description: 'Filter backups by database instance ID. Deprecated since Xena. Use -i/--instance instead.' },
    { flags: '-i, --instance <INSTANCE>', description: 'Filter backups by database instance(ID or name).' },
    { flags: '--all-projects', description: 'Get all the backups of all the projects(Admin only).' },
    { flags: '--project-id <PROJECT_ID>', description: 'Filter backups by project ID.' },
  ],
  output: 'list',
  examples: ['trove backup list', 'trove backup list --instance db1', 'trove backup list --all-projects'],
  async run(ctx, _args, opts) {
    const client = await ctx.client()
    let instanceId = opts.instanceId as string | undefined
    if (opts.instance) instanceId = await instanceRefFor(client, String(opts.instance))
    const filter = {
      datastore: opts.datastore as string | undefined,
      instance_id: instanceId,
      all_projects: Boolean(opts.allProjects),
      project_id: opts.projectId as string | undefined,
    }
    let items: Backup[]
    if (opts.limit !== undefined) {
      items = (await client.backups.page({ ...filter, limit: String(opts.limit), marker: opts.marker as string | undefined })).items
    } else {
      // No --limit: every page, as the openstack client does.
      items = []
      for await (const b of client.backups.list({ ...filter, marker: opts.marker as string | undefined })) items.push(b)
    }
    return { kind: 'list', columns: LIST_COLUMNS, rows: items.map((b) => listRow(b)) }
  },
}
