import type { CommandSpec } from '../../../spec.js'
import { CliError, describeError } from '../../../errors.js'
import type { MgmtDatastoreVersionCreate } from '../../../../sdk/index.js'

export const datastoreVersionCreate: CommandSpec = {
  path: ['datastore', 'version', 'create'],
  summary: 'Creates a datastore version (admin)',
  args: [
    { name: 'version_name', description: 'Datastore version name' },
    { name: 'datastore_name', description: "Datastore name. The datastore is created automatically if it doesn't exist" },
    { name: 'datastore_manager', description: 'Datastore manager, e.g. mysql' },
    { name: 'image_id', description: 'ID of the datastore image in Glance. This can be empty string if --image-tags is specified', allowEmpty: true },
  ],
  options: [
    { flags: '--active', description: 'Enable the datastore version' },
    { flags: '--image-tags <IMAGE_TAGS>', description: 'List of image tags separated by comma, e.g. trove,mysql' },
    { flags: '--default', description: 'If set the datastore version as default' },
    { flags: '--version-number <VERSION_NUMBER>', description: 'The version number for the database. If not specified, use the version name as the default value' },
  ],
  output: 'none',
  examples: ['trove datastore version create 10.11 mariadb mariadb "" --active --default'],
  async run(ctx, args, opts) {
    const name = String(args.version_name)
    const body: MgmtDatastoreVersionCreate = {
      name,
      datastore_name: String(args.datastore_name),
      datastore_manager: String(args.datastore_manager),
      image_tags: opts.imageTags !== undefined ? String(opts.imageTags).split(',') : [],
      packages: [],
      active: opts.active === true,
      default: opts.default === true,
    }
    if (String(args.image_id) !== '') body.image = String(args.image_id)
    if (opts.versionNumber !== undefined) body.version = String(opts.versionNumber)
    try {
      await (await ctx.client()).mgmtDatastoreVersions.create(body)
    } catch (e) {
      throw new CliError(`Failed to create datastore version ${name}: ${describeError(e).message}`)
    }
    return { kind: 'none' }
  },
}
