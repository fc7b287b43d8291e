import type { CommandSpec } from '../../../spec.js'

export const adminUserList: CommandSpec = {
  path: ['admin', 'user', 'list'],
  summary: 'List users (Keystone; admin)',
  output: 'list',
  examples: ['trove admin user list'],
  async run(ctx) {
    const client = await ctx.client()
    return { kind: 'list', columns: ['ID', 'Name'], rows: (await client.identity.listUsers()).map((u) => [u.id, u.name]) }
  },
}
