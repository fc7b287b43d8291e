import type { CommandSpec } from '../../../spec.js'
import { CliError, describeError, usageError } from '../../../errors.js'
import type { MgmtDatastoreVersionUpdate } from '../../../../sdk/index.js'

export const datastoreVersionSet: CommandSpec = {
  path: ['datastore', 'version', 'set'],
  summary: 'Updates a datastore version (admin)',
  args: [{ name: 'datastore_version_id', description: 'Datastore version ID' }],
  options: [
    { flags: '--datastore-manager <DATASTORE_MANAGER>', description: 'Datastore manager name' },
    { flags: '--image <IMAGE>', description: 'ID of the datastore image in Glance' },
    { flags: '--image-tags <IMAGE_TAGS>', description: 'List of image tags separated by comma, e.g. trove,mysql' },
    { flags: '--version-name <VERSION_NAME>', description: 'New datastore version name' },
    { flags: '--enable', description: 'Enable the datastore version' },
    { flags: '--disable', description: 'Disable the datastore version' },
    { flags: '--default', description: 'Set the datastore version as default' },
    { flags: '--non-default', description: 'Unset the datastore version as default' },
  ],
  output: 'none',
  examples: ['trove datastore version set 3c2f... --disable', 'trove datastore version set 3c2f... --image-tags trove,mariadb'],
  async run(ctx, args, opts) {
    if (opts.enable && opts.disable) throw usageError('argument --disable: not allowed with argument --enable')
    if (opts.default && opts.nonDefault) throw usageError('argument --non-default: not allowed with argument --default')
    const id = String(args.datastore_version_id)
    const body: MgmtDatastoreVersionUpdate = {}
    if (opts.datastoreManager !== undefined) body.datastore_manager = String(opts.datastoreManager)
    if (opts.image !== undefined) body.image = String(opts.image)
    if (opts.enable) body.active = true
    if (opts.disable) body.active = false
    if (opts.default) body.default = true
    if (opts.nonDefault) body.default = false
    if (opts.imageTags !== undefined) body.image_tags = String(opts.imageTags).split(',')
    if (opts.versionName !== undefined) body.name = String(opts.versionName)
    try {
      await (await ctx.client()).mgmtDatastoreVersions.update(id, body)
    } catch (e) {
      throw new CliError(`Failed to update datastore version ${id}: ${describeError(e).message}`)
    }
    return { kind: 'none' }
  },
}
