import type { CommandSpec } from '../../../spec.js'

export const backupStrategyDelete: CommandSpec = {
  path: ['backup', 'strategy', 'delete'],
  summary: 'Deletes backup strategy',
  options: [
    { flags: '--project-id <PROJECT_ID>', description: 'Project ID in Keystone. Only admin user is allowed to delete backup strategy for other projects' },
    { flags: '--instance-id <INSTANCE_ID>', description: 'ID of the instance' },
  ],
  output: 'none',
  examples: ['trove backup strategy delete', 'trove backup strategy delete --instance-id 3c2f...'],
  async run(ctx, _args, opts) {
    await (await ctx.client()).backupStrategies.delete({ instance_id: opts.instanceId as string | undefined, project_id: opts.projectId as string | undefined })
    return { kind: 'none' }
  },
}
