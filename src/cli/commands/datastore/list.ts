import type { CommandSpec } from '../../spec.js'

export const datastoreList: CommandSpec = {
  path: ['datastore', 'list'],
  summary: 'List available datastores',
  output: 'list',
  async run(ctx) {
    const ds = await (await ctx.client()).datastores.list()
    return { kind: 'list', columns: ['ID', 'Name'], rows: ds.map((d) => [d.id, d.name]) }
  },
}
