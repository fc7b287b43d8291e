import type { CommandSpec } from '../../../spec.js'
import { scheduleFields } from './fields.js'

export const backupScheduleShow: CommandSpec = {
  path: ['backup', 'schedule', 'show'],
  summary: 'Shows a backup schedule (trove lab)',
  args: [{ name: 'schedule', description: 'ID of the schedule.' }],
  output: 'show',
  examples: ['trove backup schedule show 5d0f5a5e-4c1e-4b9e-9a7d-2f1f7f0e6c11'],
  async run(ctx, args) {
    const client = await ctx.client()
    return scheduleFields(await client.backupSchedules.get(String(args.schedule)))
  },
}
