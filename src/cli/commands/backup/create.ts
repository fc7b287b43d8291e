import type { BackupCreate } from '../../../sdk/index.js'
import type { CommandSpec } from '../../spec.js'
import { CliError } from '../../errors.js'
import { waitForBackup } from '../../ui/wait.js'
import { instanceRefFor, showData } from './fields.js'

export const backupCreate: CommandSpec = {
  path: ['backup', 'create'],
  summary: 'Creates a backup of an instance',
  args: [{ name: 'name', description: 'Name of the backup.' }],
  output: 'show',
  wait: true,
  options: [
    { flags: '-i, --instance <instance>', description: 'ID or name of the instance. This is not required if restoring a backup from the data location.' },
    { flags: '--description <description>', description: 'An optional description for the backup.' },
    { flags: '--parent <parent>', description: 'Optional ID of the parent backup to perform an incremental backup from.' },
    { flags: '--incremental', description: 'Create an incremental backup based on the last full or incremental backup. It will create a full backup if no existing backup found.' },
    {
      flags: '--swift-container <SWIFT_CONTAINER>',
      description:
        'The container name for storing the backup data when Swift is used as backup storage backend. If not specified, will use the container name configured in the backup strategy, otherwise, the default value configured by the cloud operator.',
    },
    { flags: '--restore-from <RESTORE_FROM>', description: 'The original backup data location, typically this is a Swift object URL.' },
    { flags: '--restore-datastore-version <RESTORE_DATASTORE_VERSION>', description: 'ID of the local datastore version corresponding to the original backup' },
    { flags: '--restore-size <RESTORE_SIZE>', description: 'The original backup size.' },
  ],
  examples: ['trove backup create full1 --instance db1 --wait', 'trove backup create inc1 --instance db1 --incremental --wait'],
  async run(ctx, args, opts) {
    const client = await ctx.client()
    let body: BackupCreate
    if (opts.restoreFrom) {
      const size = opts.restoreSize === undefined ? null : Number(opts.restoreSize)
      if (size !== null && !Number.isFinite(size)) throw new CliError(`argument --restore-size: invalid float value: '${String(opts.restoreSize)}'`, 2)
      body = { name: String(args.name), restore_from: { remote_location: String(opts.restoreFrom), local_datastore_version_id: (opts.restoreDatastoreVersion as string | undefined) ?? null, size } }
    } else {
      if (!opts.instance) throw new CliError('Instance ID or name is required if not restoring a backup.')
      body = { name: String(args.name), incremental: opts.incremental ? 1 : 0, instance: await instanceRefFor(client, String(opts.instance)) }
      if (opts.description) body.description = String(opts.description)
      if (opts.parent) body.parent_id = String(opts.parent)
      if (opts.swiftContainer) body.swift_container = String(opts.swiftContainer)
    }
    let backup = await client.backups.create(body)
    if (opts.wait) backup = (await waitForBackup(ctx, client, backup.id, 'COMPLETED', opts, backup.name)) ?? backup
    return showData(backup)
  },
}
