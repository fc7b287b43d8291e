import type { CommandSpec } from '../../spec.js'
import { findInstance } from '../../resolve.js'

export const moduleQuery: CommandSpec = {
  path: ['module', 'query'],
  summary: 'Query the status of the modules on an instance',
  description: 'Legacy `trove module-query`: what the guest reports.',
  args: [{ name: 'instance', description: 'ID or name of the instance' }],
  output: 'list',
  examples: ['trove module query db1'],
  async run(ctx, args) {
    const client = await ctx.client()
    const inst = await findInstance(client, String(args.instance))
    const modules = await client.modules.listForInstance(inst.id, { fromGuest: true })
    return {
      kind: 'list',
      columns: ['Name', 'Type', 'Datastore', 'Version', 'Status', 'Message', 'Created', 'Updated'],
      rows: modules.map((m) => [m.name, m.type, m.datastore, m.datastore_version, m.status, m.message, m.created, m.updated]),
    }
  },
}
