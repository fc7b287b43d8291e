import type { CommandSpec } from '../../../spec.js'
import { projectFields } from '../fields.js'

export const adminProjectCreate: CommandSpec = {
  path: ['admin', 'project', 'create'],
  summary: 'Create a project (Keystone; admin)',
  args: [{ name: 'name', description: 'New project name' }],
  options: [{ flags: '--description <description>', description: 'Project description' }],
  output: 'show',
  examples: ['trove admin project create team-a', 'trove admin project create team-a --description "Team A databases"'],
  async run(ctx, args, opts) {
    const client = await ctx.client()
    const p = await client.identity.createProject({ name: String(args.name), ...(opts.description !== undefined ? { description: String(opts.description) } : {}) })
    return { kind: 'show', fields: projectFields(p) }
  },
}
