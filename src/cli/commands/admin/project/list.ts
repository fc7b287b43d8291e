import type { CommandSpec } from '../../../spec.js'

export const adminProjectList: CommandSpec = {
  path: ['admin', 'project', 'list'],
  summary: 'List projects (Keystone; admin)',
  output: 'list',
  examples: ['trove admin project list', 'trove admin project list -f value -c Name'],
  async run(ctx) {
    const client = await ctx.client()
    return { kind: 'list', columns: ['ID', 'Name'], rows: (await client.identity.listProjects()).map((p) => [p.id, p.name]) }
  },
}
