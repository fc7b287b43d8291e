import type { CommandSpec } from '../../../spec.js'

export const backupScheduleDelete: CommandSpec = {
  path: ['backup', 'schedule', 'delete'],
  summary: 'Deletes a backup schedule and its executions; its backups stay (trove lab)',
  args: [{ name: 'schedule', description: 'ID of the schedule.' }],
  output: 'none',
  examples: ['trove backup schedule delete 5d0f5a5e-4c1e-4b9e-9a7d-2f1f7f0e6c11'],
  async run(ctx, args) {
    const client = await ctx.client()
    await client.backupSchedules.delete(String(args.schedule))
    return { kind: 'none' }
  },
}
