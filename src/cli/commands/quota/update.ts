import type { CommandSpec } from '../../spec.js'
import { usageError } from '../../errors.js'
import { projectIdFor } from '../../resolve.js'

export const quotaUpdate: CommandSpec = {
  path: ['quota', 'update'],
  summary: 'Update quotas for a project',
  args: [
    { name: 'project', description: 'Id or name of the project' },
    { name: 'resource', description: 'Resource name' },
    { name: 'limit', description: 'New limit to set for the named resource' },
  ],
  output: 'show',
  examples: ['trove quota update demo instances 10'],
  async run(ctx, args) {
    const limitText = String(args.limit)
    if (!/^\s*[-+]?\d+\s*$/.test(limitText)) throw usageError(`argument limit: invalid int value: '${limitText}'`)
    const client = await ctx.client()
    const project = await projectIdFor(client, String(args.project))
    return { kind: 'show', fields: { ...(await client.quotas.update(project, { [String(args.resource)]: Number.parseInt(limitText, 10) })) } }
  },
}
