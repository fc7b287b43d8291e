import { readFile } from 'node:fs/promises'
import type { CommandSpec } from '../../spec.js'
import type { ModuleFields } from '../../../sdk/index.js'
import { findModule } from './find.js'

const PAIRS = [
  ['autoApply', 'auto_apply'],
  ['allTenants', 'all_tenants'],
  ['liveUpdate', 'live_update'],
  ['priorityApply', 'priority_apply'],
  ['fullAccess', 'full_access'],
] as const

export const moduleUpdate: CommandSpec = {
  path: ['module', 'update'],
  summary: 'Updates a module',
  description: 'Legacy `trove module-update`.',
  args: [{ name: 'module', description: 'ID or name of the module' }],
  options: [
    { flags: '--name <name>', description: 'New name of the module' },
    { flags: '--type <type>', description: 'New type of the module' },
    { flags: '--file <file>', description: 'File containing the new contents' },
    { flags: '--description <description>', description: 'New description' },
    { flags: '--datastore <datastore>', description: 'Name or ID of the datastore this module can be applied to' },
    { flags: '--all-datastores', description: 'Module is valid for all datastores' },
    { flags: '--datastore-version <version>', description: 'Name or ID of the datastore version' },
    { flags: '--all-datastore-versions', description: 'Module is valid for all datastore versions' },
    { flags: '--auto-apply', description: 'Automatically apply this module when creating an instance' },
    { flags: '--no-auto-apply', description: 'Do not automatically apply this module' },
    { flags: '--all-tenants', description: 'Module is valid for all tenants' },
    { flags: '--no-all-tenants', description: 'Module is valid for the current tenant only' },
    { flags: '--hidden', description: 'Hide this module from non-admin users' },
    { flags: '--no-hidden', description: 'Show this module to non-admin users' },
    { flags: '--live-update', description: 'Allow the module to be updated while applied' },
    { flags: '--no-live-update', description: 'Do not allow the module to be updated while applied' },
    { flags: '--priority-apply', description: 'Apply this module before other non-priority ones' },
    { flags: '--no-priority-apply', description: 'Apply this module in the normal order' },
    { flags: '--apply-order <order>', description: 'Order to apply modules in (0-9)', int: true },
    { flags: '--full-access', description: 'Non-admin users may edit this module' },
    { flags: '--no-full-access', description: 'Only admins may edit this module' },
  ],
  output: 'show',
  examples: ['trove module update ping1 --file ./ping2.dat'],
  async run(ctx, args, opts) {
    const client = await ctx.client()
    const m = await findModule(client, String(args.module))
    const f: ModuleFields = {}
    if (opts.name) f.name = String(opts.name)
    if (opts.type) f.module_type = String(opts.type)
    if (opts.file) f.contents = (await readFile(String(opts.file))).toString('base64')
    if (opts.description) f.description = String(opts.description)
    if (opts.datastore || opts.datastoreVersion)
      f.datastore = { ...(opts.datastore ? { type: String(opts.datastore) } : {}), ...(opts.datastoreVersion ? { version: String(opts.datastoreVersion) } : {}) }
    if (opts.allDatastores) f.all_datastores = 1
    if (opts.allDatastoreVersions) f.all_datastore_versions = 1
    // commander: --x sets true, --no-x false, neither leaves undefined (no default set).
    for (const [o, k] of PAIRS) if (typeof opts[o] === 'boolean') f[k] = opts[o] ? 1 : 0
    if (typeof opts.hidden === 'boolean') f.visible = opts.hidden ? 0 : 1
    if (opts.applyOrder !== undefined) f.apply_order = Number(opts.applyOrder)
    return { kind: 'show', fields: { ...(await client.modules.update(m.id, f)) } }
  },
}
