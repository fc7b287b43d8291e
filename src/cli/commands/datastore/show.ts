import type { CommandSpec } from '../../spec.js'
import { findResource } from '../../resolve.js'

export const datastoreShow: CommandSpec = {
  path: ['datastore', 'show'],
  summary: 'Shows details of a datastore',
  args: [{ name: 'datastore', description: 'ID or name of the datastore' }],
  output: 'show',
  async run(ctx, args) {
    const client = await ctx.client()
    const d = await findResource(
      'datastore',
      String(args.datastore),
      (x) => client.datastores.get(x),
      () => client.datastores.list(),
    )
    const fields: Record<string, unknown> = { id: d.id, name: d.name }
    if (d.default_version !== undefined) fields.default_version = d.versions.find((v) => v.id === d.default_version)?.name ?? d.default_version
    fields['versions (id)'] = d.versions.map((v) => `${v.name} (${v.id})`).join('\n')
    return { kind: 'show', fields }
  },
}
