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
    return {
      kind: 'list',
      columns: ['ID', 'Name', 'Description', 'Datastore Name', 'Datastore Version Name', 'Datastore Version Number'],
      rows: list.map((c) => [c.id, c.name, c.description, c.datastore_name, c.datastore_version_name, c.datastore_version_number]),
    }
  },
}
