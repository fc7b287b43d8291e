import type { CommandSpec } from '../../../spec.js'

export const backupStrategyList: CommandSpec = {
  path: ['backup', 'strategy', 'list'],
  summary: 'List backup strategies',
  options: [
    { flags: '--instance-id <INSTANCE_ID>', description: 'ID of the instance' },
    { flags: '--project-id <PROJECT_ID>', description: 'Project ID in Keystone. Only admin user is allowed to list backup strategy for other projects' },
  ],
  output: 'list',
  examples: ['trove backup strategy list'],
  async run(ctx, _args, opts) {
    const list = await (await ctx.client()).backupStrategies.list({ instance_id: opts.instanceId as string | undefined, project_id: opts.projectId as string | undefined })
    return { kind: 'list', columns: ['Project ID', 'Instance ID', 'Swift Container'], rows: list.map((s) => [s.project_id, s.instance_id, s.swift_container]) }
  },
}
