import { Option } from 'commander'
import type { ArgSpec, CommandContext, CommandSpec, OptionSpec } from './spec.js'
import { CliError } from './errors.js'

/**
 * The legacy `trove` shell's command names (python-troveclient's troveclient/v1/shell.py,
 * cli.md section 1 column 2 and section 8) as aliases of the new commands. Each alias
 * names its target command path and, where the legacy arguments differ, an adapter
 * from the legacy arguments to the target's. Options take both spellings: the
 * legacy shell's `--volume_type` and the openstack client's `--volume-type`.
 */
export interface LegacyAlias {
  /** The legacy command name, e.g. 'backup-create'. */
  name: string
  /** The command it runs, e.g. ['backup', 'create']. */
  target: string[]
  /** The legacy positional arguments when they differ from the target's. */
  args?: ArgSpec[]
  /** Attribute names of target options the legacy arguments replace (left out of the alias). */
  drop?: string[]
  /** Legacy-only options (added to the target's). */
  options?: OptionSpec[]
  /** Maps legacy arguments and options to the target's (mutates and returns them). */
  adapt?(args: Record<string, unknown>, opts: Record<string, unknown>): void
}

const setFlag = (key: string) => (_a: Record<string, unknown>, o: Record<string, unknown>) => {
  o[key] = true
}

/** Every legacy name that maps onto a command of this CLI. */
export const LEGACY_ALIASES: LegacyAlias[] = [
  // Instances
  { name: 'list', target: ['instance', 'list'] },
  { name: 'show', target: ['instance', 'show'] },
  {
    name: 'create',
    target: ['instance', 'create'],
    args: [
      { name: 'name', description: 'Name of the instance' },
      { name: 'flavor', description: 'A flavor name or ID' },
    ],
    drop: ['flavor'],
    adapt(a, o) {
      o.flavor = a.flavor
      delete a.flavor
    },
  },
  { name: 'delete', target: ['instance', 'delete'] },
  { name: 'force-delete', target: ['instance', 'force', 'delete'] },
  { name: 'reset-status', target: ['instance', 'reset', 'status'] },
  { name: 'resize-instance', target: ['instance', 'resize', 'flavor'] },
  { name: 'resize-volume', target: ['instance', 'resize', 'volume'] },
  { name: 'restart', target: ['instance', 'restart'] },
  { name: 'upgrade', target: ['instance', 'upgrade'] },
  { name: 'update', target: ['instance', 'update'] },
  { name: 'detach-replica', target: ['instance', 'detach'] },
  { name: 'promote-to-replica-source', target: ['instance', 'promote'] },
  { name: 'eject-replica-source', target: ['instance', 'eject'] },
  // Flavors, limits
  { name: 'flavor-list', target: ['flavor', 'list'] },
  { name: 'flavor-show', target: ['flavor', 'show'] },
  { name: 'limit-list', target: ['limit', 'list'] },
  // Backups
  { name: 'backup-list', target: ['backup', 'list'] },
  { name: 'backup-list-instance', target: ['backup', 'list', 'instance'] },
  { name: 'backup-show', target: ['backup', 'show'] },
  {
    name: 'backup-create',
    target: ['backup', 'create'],
    args: [
      { name: 'instance', description: 'ID or name of the instance' },
      { name: 'name', description: 'Name of the backup' },
    ],
    drop: ['instance'],
    adapt(a, o) {
      o.instance = a.instance
      delete a.instance
    },
  },
  { name: 'backup-delete', target: ['backup', 'delete'] },
  { name: 'execution-delete', target: ['backup', 'execution', 'delete'] },
  // Backup schedules: the legacy client's names, served by the lab's server (no Mistral).
  { name: 'schedule-create', target: ['backup', 'schedule', 'create'] },
  { name: 'schedule-list', target: ['backup', 'schedule', 'list'] },
  { name: 'schedule-show', target: ['backup', 'schedule', 'show'] },
  { name: 'schedule-delete', target: ['backup', 'schedule', 'delete'] },
  { name: 'execution-list', target: ['backup', 'execution', 'list'] },
  // Clusters
  { name: 'cluster-list', target: ['cluster', 'list'] },
  { name: 'cluster-show', target: ['cluster', 'show'] },
  { name: 'cluster-create', target: ['cluster', 'create'] },
  { name: 'cluster-delete', target: ['cluster', 'delete'] },
  { name: 'cluster-force-delete', target: ['cluster', 'force', 'delete'] },
  { name: 'cluster-reset-status', target: ['cluster', 'reset', 'status'] },
  { name: 'cluster-instances', target: ['cluster', 'list', 'instances'] },
  { name: 'cluster-modules', target: ['cluster', 'modules'] },
  { name: 'cluster-grow', target: ['cluster', 'grow'] },
  { name: 'cluster-shrink', target: ['cluster', 'shrink'] },
  { name: 'cluster-upgrade', target: ['cluster', 'upgrade'] },
  // Configuration groups
  { name: 'configuration-list', target: ['configuration', 'list'] },
  { name: 'configuration-show', target: ['configuration', 'show'] },
  { name: 'configuration-create', target: ['configuration', 'create'] },
  { name: 'configuration-delete', target: ['configuration', 'delete'] },
  { name: 'configuration-attach', target: ['configuration', 'attach'] },
  { name: 'configuration-detach', target: ['configuration', 'detach'] },
  { name: 'configuration-instances', target: ['configuration', 'instances'] },
  { name: 'configuration-default', target: ['configuration', 'default'] },
  { name: 'configuration-parameter-list', target: ['configuration', 'parameter', 'list'] },
  { name: 'configuration-parameter-show', target: ['configuration', 'parameter', 'show'] },
  { name: 'configuration-patch', target: ['configuration', 'parameter', 'set'] },
  { name: 'configuration-update', target: ['configuration', 'set'] },
  // Databases, users, root
  { name: 'database-list', target: ['db', 'list'] },
  { name: 'database-create', target: ['db', 'create'] },
  { name: 'database-delete', target: ['db', 'delete'] },
  { name: 'user-list', target: ['user', 'list'] },
  { name: 'user-show', target: ['user', 'show'] },
  { name: 'user-create', target: ['user', 'create'] },
  { name: 'user-delete', target: ['user', 'delete'] },
  { name: 'user-grant-access', target: ['user', 'grant', 'access'] },
  { name: 'user-revoke-access', target: ['user', 'revoke', 'access'] },
  { name: 'user-show-access', target: ['user', 'show', 'access'] },
  { name: 'user-update-attributes', target: ['user', 'update', 'attributes'] },
  { name: 'root-enable', target: ['root', 'enable'] },
  { name: 'root-disable', target: ['root', 'disable'] },
  { name: 'root-show', target: ['root', 'show'] },
  // Guest logs: log-enable/-disable/-publish/-discard are `log set` with one flag each.
  { name: 'log-list', target: ['log', 'list'] },
  { name: 'log-show', target: ['log', 'show'] },
  { name: 'log-enable', target: ['log', 'set'], adapt: setFlag('enable') },
  { name: 'log-disable', target: ['log', 'set'], adapt: setFlag('disable') },
  { name: 'log-publish', target: ['log', 'set'], adapt: setFlag('publish') },
  { name: 'log-discard', target: ['log', 'set'], adapt: setFlag('discard') },
  { name: 'log-tail', target: ['log', 'tail'] },
  { name: 'log-save', target: ['log', 'save'] },
  // Quotas, datastores
  { name: 'quota-show', target: ['quota', 'show'] },
  { name: 'quota-update', target: ['quota', 'update'] },
  { name: 'datastore-list', target: ['datastore', 'list'] },
  { name: 'datastore-show', target: ['datastore', 'show'] },
  { name: 'datastore-version-list', target: ['datastore', 'version', 'list'] },
  { name: 'datastore-version-show', target: ['datastore', 'version', 'show'] },
  // Modules (legacy-only in python-troveclient; this CLI has `module ...` commands)
  { name: 'module-list', target: ['module', 'list'] },
  { name: 'module-show', target: ['module', 'show'] },
  { name: 'module-create', target: ['module', 'create'] },
  { name: 'module-update', target: ['module', 'update'] },
  { name: 'module-delete', target: ['module', 'delete'] },
  { name: 'module-reapply', target: ['module', 'reapply'] },
  { name: 'module-instances', target: ['module', 'instances'] },
  { name: 'module-instance-count', target: ['module', 'instance-count'] },
  { name: 'module-list-instance', target: ['module', 'list-instance'] },
  { name: 'module-apply', target: ['module', 'apply'] },
  { name: 'module-remove', target: ['module', 'remove'] },
  { name: 'module-query', target: ['module', 'query'] },
  { name: 'module-retrieve', target: ['module', 'retrieve'] },
]

/** A one-line failure for legacy commands this client cannot serve (the reason may depend on talking to a lab). */
function unsupported(name: string, why: string | ((lab: boolean) => string)): CommandSpec['run'] {
  return async (ctx) => {
    if (typeof why === 'string') throw new CliError(`${name}: ${why}`)
    let lab = false
    try {
      lab = await (await ctx.client()).isLab()
    } catch {
      /* no usable settings: not known to be a lab */
    }
    throw new CliError(`${name}: ${why(lab)}`)
  }
}

const NOT_IN_API = (lab: boolean) => (lab ? 'not supported by the Trove v1.0 API of this lab' : 'not supported by this client')

function legacyOnly(name: string, summary: string, args: ArgSpec[], run: CommandSpec['run'], output: CommandSpec['output'] = 'none', options: OptionSpec[] = []): CommandSpec {
  return { path: [name], summary, args, options, output, hidden: true, legacy: true, run }
}

const inst: ArgSpec = { name: 'instance_id', description: 'UUID of the instance' }
const key: ArgSpec = { name: 'key', description: 'Key of the metadata entry' }
const sg: ArgSpec = { name: 'security_group', description: 'ID of the security group' }

/** The legacy commands with no `openstack database` equivalent (cli.md section 8). */
export const LEGACY_ONLY: CommandSpec[] = [
  legacyOnly(
    'volume-type-list',
    'Lists available volume types',
    [],
    async (ctx, _a, o) => {
      if (Boolean(o.datastoreType) !== Boolean(o.datastoreVersionId)) throw new CliError('Missing argument(s): datastore-type, datastore-version-id')
      const client = await ctx.client()
      const types = await client.datastores.volumeTypes(o.datastoreType as string | undefined, o.datastoreVersionId as string | undefined)
      return { kind: 'list', columns: ['ID', 'Name', 'Is Public', 'Description'], rows: types.map((v) => [v.id, v.name, v.is_public ?? '', v.description ?? '']) }
    },
    'list',
    [
      { flags: '--datastore_type, --datastore-type <datastore_type>', description: 'Type of the datastore (with --datastore_version_id)' },
      { flags: '--datastore_version_id, --datastore-version-id <datastore_version_id>', description: 'ID of the datastore version (with --datastore_type)' },
    ],
  ),
  legacyOnly(
    'volume-type-show',
    'Shows details of a volume type',
    [{ name: 'volume_type', description: 'ID or name of the volume type' }],
    async (ctx, a) => {
      const client = await ctx.client()
      return { kind: 'show', fields: { ...(await client.datastores.volumeType(String(a.volume_type))) } }
    },
    'show',
  ),
  legacyOnly('metadata-list', 'Shows all metadata of an instance', [inst], unsupported('metadata-list', NOT_IN_API)),
  legacyOnly('metadata-show', 'Shows one metadata entry of an instance', [inst, key], unsupported('metadata-show', NOT_IN_API)),
  legacyOnly('metadata-create', 'Creates a metadata entry of an instance', [inst, key, { name: 'value', description: 'Value' }], unsupported('metadata-create', NOT_IN_API)),
  legacyOnly(
    'metadata-update',
    'Replaces a metadata entry of an instance',
    [inst, key, { name: 'newkey', description: 'New key' }, { name: 'value', description: 'Value' }],
    unsupported('metadata-update', NOT_IN_API),
  ),
  legacyOnly('metadata-edit', 'Edits a metadata entry of an instance', [inst, key, { name: 'value', description: 'Value' }], unsupported('metadata-edit', NOT_IN_API)),
  legacyOnly('metadata-delete', 'Deletes a metadata entry of an instance', [inst, key], unsupported('metadata-delete', NOT_IN_API)),
  legacyOnly('secgroup-list', 'Lists all security groups', [], unsupported('secgroup-list', NOT_IN_API)),
  legacyOnly('secgroup-show', 'Shows details of a security group', [sg], unsupported('secgroup-show', NOT_IN_API)),
  legacyOnly('secgroup-list-rules', 'Lists the rules of a security group', [sg], unsupported('secgroup-list-rules', NOT_IN_API)),
  legacyOnly('secgroup-add-rule', 'Adds a rule to a security group', [sg, { name: 'cidr', description: 'CIDR address' }], unsupported('secgroup-add-rule', NOT_IN_API)),
  legacyOnly('secgroup-delete-rule', 'Deletes a security group rule', [{ name: 'security_group_rule', description: 'ID of the rule' }], unsupported('secgroup-delete-rule', NOT_IN_API)),
]

/** `--volume-type <x>` also as `--volume_type <x>` (the legacy shell's spelling). */
function withUnderscoreSpelling(o: OptionSpec): OptionSpec {
  const m = /^(--[a-z0-9]+(?:-[a-z0-9]+)+)(\s.*)?$/.exec(o.flags)
  if (!m) return o
  return { ...o, flags: `${m[1]}, ${m[1].replace(/-/g, '_').replace(/^__/, '--')}${m[2] ?? ''}` }
}

const attr = (flags: string) => new Option(flags).attributeName()

/** Builds the spec of one alias over its target: legacy arguments, both option spellings, the adapter. */
function aliasSpec(alias: LegacyAlias, target: CommandSpec): CommandSpec {
  const kept = (target.options ?? []).filter((o) => !alias.drop?.includes(attr(o.flags)))
  const taken = new Set(kept.flatMap((o) => o.flags.split(/[ ,|]+/).filter((w) => w.startsWith('-'))))
  const options = kept.map((o) => {
    const u = withUnderscoreSpelling(o)
    const added = u.flags.split(/[ ,|]+/).filter((w) => w.startsWith('--') && !o.flags.includes(w))
    return added.some((w) => taken.has(w)) ? o : u
  })
  const renames = kept.map((o, i) => [attr(options[i].flags), attr(o.flags)] as const).filter(([a, b]) => a !== b)
  return {
    path: [alias.name],
    summary: `${target.summary} (legacy name of 'trove ${target.path.join(' ')}')`,
    description: target.description,
    args: alias.args ?? target.args,
    options: [...options, ...(alias.options ?? [])],
    output: target.output,
    wait: target.wait,
    hidden: true,
    legacy: true,
    examples: [`trove ${alias.name}${(alias.args ?? target.args ?? []).map((a) => ` <${a.name}>`).join('')}`],
    run(ctx: CommandContext, args, opts) {
      const a = { ...args }
      const o = { ...opts }
      for (const [from, to] of renames)
        if (from in o) {
          o[to] = o[from]
          delete o[from]
        }
      alias.adapt?.(a, o)
      return target.run(ctx, a, o)
    },
  }
}

/**
 * The legacy specs to register over `commands`: one per alias whose target exists
 * (aliases of commands not (yet) in this build are skipped and reported), plus the
 * legacy-only commands.
 */
export function legacySpecs(commands: CommandSpec[]): { specs: CommandSpec[]; unresolved: LegacyAlias[] } {
  const byPath = new Map(commands.map((c) => [c.path.join(' '), c]))
  const specs: CommandSpec[] = []
  const unresolved: LegacyAlias[] = []
  for (const alias of LEGACY_ALIASES) {
    const target = byPath.get(alias.target.join(' '))
    if (!target) {
      unresolved.push(alias)
      continue
    }
    specs.push(aliasSpec(alias, target))
  }
  return { specs: [...specs, ...LEGACY_ONLY], unresolved }
}
