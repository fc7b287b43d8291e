import { randomBytes } from 'node:crypto'
import type { CommandSpec } from '../../../spec.js'
import { usageError } from '../../../errors.js'
import { userFields } from '../fields.js'

export const adminUserCreate: CommandSpec = {
  path: ['admin', 'user', 'create'],
  summary: 'Create a user (Keystone; admin)',
  description:
    'The user gets --project as its default project; grant it a role there with `trove admin role add`. ' +
    'With --random-password the generated password is printed once, in the `password` field: it is stored only as a hash.',
  args: [{ name: 'name', description: 'New user name' }],
  options: [
    { flags: '--project <project>', description: 'Default project (name or ID)' },
    { flags: '--password <password>', description: 'Set user password' },
    { flags: '--random-password', description: 'Generate a random password and print it once' },
  ],
  output: 'show',
  examples: ['trove admin user create alice --project team-a --random-password', 'trove admin user create bob --project team-a --password "$PW"'],
  async run(ctx, args, opts) {
    if (opts.password !== undefined && opts.randomPassword) throw usageError('--password and --random-password cannot be used together')
    const client = await ctx.client()
    const project = opts.project !== undefined ? await client.identity.findProject(String(opts.project)) : undefined
    const password = opts.randomPassword ? randomBytes(18).toString('base64url') : opts.password !== undefined ? String(opts.password) : undefined
    const u = await client.identity.createUser({ name: String(args.name), ...(password !== undefined ? { password } : {}), ...(project ? { default_project_id: project.id } : {}) })
    return { kind: 'show', fields: { ...userFields(u), ...(opts.randomPassword ? { password } : {}) } }
  },
}
