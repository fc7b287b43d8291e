import { readFile } from 'node:fs/promises'
import type { CommandSpec } from '../../spec.js'
import { CliError } from '../../errors.js'

export const moduleCreate: CommandSpec = {
  path: ['module', 'create'],
  summary: 'Creates a module',
  description: 'Legacy `trove module-create`. The file is sent base64-encoded, as the upstream client does.',
  args: [
    { name: 'name', description: 'Name of the module' },
    { name: 'type', description: 'Type of the module (ping, new_relic_license)' },
    { name: 'file', description: 'File containing data contents for the module' },
  ],
  options: [
    { flags: '--description <description>', description: 'Description of the module' },
    { flags: '--datastore <datastore>', description: 'Name or ID of datastore this module can be applied to' },
    { flags: '--datastore-version <version>', description: 'Name or ID of datastore version this module can be applied to (requires --datastore)' },
    { flags: '--auto-apply', description: 'Automatically apply this module when creating an instance (admin only)' },
    { flags: '--all-tenants', description: 'Module is valid for all tenants (admin only)' },
    { flags: '--hidden', description: 'Hide this module from non-admin users (admin only)' },
    { flags: '--live-update', description: 'Allow module to be updated even if it is already applied' },
    { flags: '--priority-apply', description: 'Apply this module before other non-priority ones (admin only)' },
    { flags: '--apply-order <order>', description: 'Order to apply modules in, lower first (0-9)', default: 5, int: true },
    { flags: '--full-access', description: 'Non-admin users may edit this module (admin only)' },
  ],
  output: 'show',
  examples: ['trove module create ping1 ping ./ping.dat --datastore mariadb'],
  async run(ctx, args, opts) {
    const client = await ctx.client()
    if (opts.datastoreVersion && !opts.datastore) throw new CliError('Cannot specify version without datastore', 2)
    const contents = (await readFile(String(args.file))).toString('base64')
    const b = (k: string) => (opts[k] ? 1 : 0) as 0 | 1
    const m = await client.modules.create({
      name: String(args.name),
      module_type: String(args.type),
      contents,
      ...(opts.description ? { description: String(opts.description) } : {}),
      ...(opts.datastore ? { datastore: { type: String(opts.datastore), ...(opts.datastoreVersion ? { version: String(opts.datastoreVersion) } : {}) } } : {}),
      all_tenants: b('allTenants'),
      auto_apply: b('autoApply'),
      visible: opts.hidden ? 0 : 1,
      live_update: b('liveUpdate'),
      priority_apply: b('priorityApply'),
      apply_order: Number(opts.applyOrder ?? 5),
      ...(opts.fullAccess ? { full_access: 1 as const } : {}),
    })
    return { kind: 'show', fields: { ...m } }
  },
}
