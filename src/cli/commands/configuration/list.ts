import { NotFoundError } from '../../../sdk/errors.js'
import type { CommandSpec } from '../../spec.js'

export const configurationList: CommandSpec = {
  path: ['configuration', 'list'],
  summary: 'List database configurations',
  options: [
    { flags: '--limit <limit>', description: 'Limit the number of results displayed', int: true },
    { flags: '--marker <ID>', description: 'Begin displaying the results for IDs greater than the specified marker. When used with --limit, set this to the last ID displayed in the previous run' },
  ],
  output: 'list',
  examples: ['trove configuration list'],
  async run(ctx, _args, opts) {
    const client = await ctx.client()
    const list = await client.configurations.list({ limit: opts.limit as number | undefined, marker: opts.marker as string | undefined })
    // Upstream's list view has no version number; the openstack client fills the column by
    // loading each group (troveclient's lazy attribute load: GET /configurations/{id}).
    await Promise.all(
      list.map(async (c) => {
        if (c.datastore_version_number !== undefined) return
        try {
          c.datastore_version_number = (await client.configurations.get(c.id)).datastore_version_number ?? ''
        } catch (e) {
          if (!(e instanceof NotFoundError)) throw e
          c.datastore_version_number = '' // deleted since the list
        }
      }),
    )
    return {
      kind: 'list',
      columns: ['ID', 'Name', 'Description', 'Datastore Name', 'Datastore Version Name', 'Datastore Version Number'],
      rows: list.map((c) => [c.id, c.name, c.description, c.datastore_name, c.datastore_version_name, c.datastore_version_number]),
    }
  },
}
