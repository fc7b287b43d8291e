import type { CommandSpec } from '../../spec.js'
import { projectIdFor } from '../../resolve.js'

export const quotaShow: CommandSpec = {
  path: ['quota', 'show'],
  summary: 'Show quotas for a project',
  args: [{ name: 'project', description: 'Id or name of the project' }],
  output: 'list',
  examples: ['trove quota show demo'],
  async run(ctx, args) {
    const client = await ctx.client()
    const quotas = await client.quotas.show(await projectIdFor(client, String(args.project)))
    return { kind: 'list', columns: ['Resource', 'In Use', 'Reserved', 'Limit'], rows: quotas.map((q) => [q.resource, q.in_use, q.reserved, q.limit]) }
  },
}
