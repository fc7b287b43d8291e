import type { CommandSpec } from '../../spec.js'

export const clusterList: CommandSpec = {
  path: ['cluster', 'list'],
  summary: 'List database clusters',
  options: [
    { flags: '--limit <limit>', description: 'Limit the number of results displayed', int: true },
    { flags: '--marker <ID>', description: 'Begin displaying the results for IDs greater than the specified marker. When used with --limit, set this to the last ID displayed in the previous run' },
  ],
  output: 'list',
  examples: ['trove cluster list'],
  async run(ctx, _args, opts) {
    const list = await (await ctx.client()).clusters.list({ limit: opts.limit as number | undefined, marker: opts.marker as string | undefined })
    return {
      kind: 'list',
      columns: ['ID', 'Name', 'Datastore', 'Datastore Version', 'Task Name'],
      rows: list.map((c) => [c.id, c.name, c.datastore.type, c.datastore.version, c.task.name]),
    }
  },
}
