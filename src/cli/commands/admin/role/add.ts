import type { CommandSpec } from '../../../spec.js'
import { usageError } from '../../../errors.js'

export const adminRoleAdd: CommandSpec = {
  path: ['admin', 'role', 'add'],
  summary: 'Grant a role to a user on a project (Keystone; admin)',
  description: 'Roles of the lab: admin, member, reader. A member of a project may use its database instances.',
  args: [{ name: 'role', description: 'Role to grant (name or ID)' }],
  options: [
    { flags: '--project <project>', description: 'Project (name or ID)' },
    { flags: '--user <user>', description: 'User (name or ID)' },
  ],
  output: 'none',
  examples: ['trove admin role add member --project team-a --user alice'],
  async run(ctx, args, opts) {
    if (opts.project === undefined) throw usageError('--project is required')
    if (opts.user === undefined) throw usageError('--user is required')
    const client = await ctx.client()
    const role = await client.identity.findRole(String(args.role))
    const project = await client.identity.findProject(String(opts.project))
    const user = await client.identity.findUser(String(opts.user))
    await client.identity.grantRole(project.id, user.id, role.id)
    return { kind: 'none' }
  },
}
