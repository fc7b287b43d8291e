import type { CommandSpec } from '../../../spec.js'

export const datastoreVersionList: CommandSpec = {
  path: ['datastore', 'version', 'list'],
  summary: 'Lists available versions for a datastore',
  args: [{ name: 'datastore', description: 'ID or name of the datastore' }],
  output: 'list',
  async run(ctx, args) {
    const versions = await (await ctx.client()).datastoreVersions.list(String(args.datastore))
    return { kind: 'list', columns: ['ID', 'Name', 'Version'], rows: versions.map((v) => [v.id, v.name, v.version]) }
  },
}
