import type { CommandSpec } from '../../../spec.js'
import type { BackupStrategyCreate } from '../../../../sdk/index.js'

export const backupStrategyCreate: CommandSpec = {
  path: ['backup', 'strategy', 'create'],
  summary: 'Creates backup strategy for the project or a particular instance',
  options: [
    {
      flags: '--project-id <PROJECT_ID>',
      description: 'Project ID in Keystone. Only admin user is allowed to create backup strategy for other projects (accepted but not sent, as the openstack client does)',
    },
    { flags: '--instance-id <INSTANCE_ID>', description: 'ID of the instance' },
    { flags: '--swift-container <SWIFT_CONTAINER>', description: 'The container name for storing the backup data when Swift is used as backup storage backend' },
  ],
  output: 'show',
  examples: ['trove backup strategy create --swift-container my-backups'],
  async run(ctx, _args, opts) {
    const body: BackupStrategyCreate = {}
    if (opts.instanceId !== undefined) body.instance_id = String(opts.instanceId)
    if (opts.swiftContainer !== undefined) body.swift_container = String(opts.swiftContainer)
    return { kind: 'show', fields: { ...(await (await ctx.client()).backupStrategies.create(body)) } }
  },
}
