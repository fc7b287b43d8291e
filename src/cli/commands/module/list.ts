import type { CommandSpec } from '../../spec.js'
import { isAdminToken } from './find.js'

export const moduleList: CommandSpec = {
  path: ['module', 'list'],
  summary: 'Lists the modules available',
  description: 'Legacy `trove module-list`.',
  options: [{ flags: '--datastore <datastore>', description: "Name or ID of datastore to list modules for. Use 'all' to list modules that apply to all datastores." }],
  output: 'list',
  examples: ['trove module list --datastore mariadb'],
  async run(ctx, _args, opts) {
    const client = await ctx.client()
    const modules = await client.modules.list(opts.datastore as string | undefined)
    const admin = await isAdminToken(client)
    const columns = ['ID', 'Name', 'Type', 'Datastore', 'Version', 'Auto Apply', 'Priority', 'Order', 'Admin', ...(admin ? ['Tenant', 'Visible'] : [])]
    return {
      kind: 'list',
      columns,
      rows: modules.map((m) => [m.id, m.name, m.type, m.datastore, m.datastore_version, m.auto_apply, m.priority_apply, m.apply_order, m.is_admin, ...(admin ? [m.tenant, m.visible] : [])]),
    }
  },
}
