import type { CommandSpec } from '../../../spec.js'
import { instanceRefFor } from '../fields.js'
import { SCHEDULE_COLUMNS, scheduleRow } from './fields.js'

export const backupScheduleList: CommandSpec = {
  path: ['backup', 'schedule', 'list'],
  summary: 'Lists the backup schedules of an instance (trove lab)',
  args: [{ name: 'instance', description: 'ID or name of the instance.' }],
  output: 'list',
  examples: ['trove backup schedule list db1', 'trove schedule-list db1 -f json'],
  async run(ctx, args) {
    const client = await ctx.client()
    const schedules = await client.backupSchedules.list(await instanceRefFor(client, String(args.instance)))
    return { kind: 'list', columns: SCHEDULE_COLUMNS, rows: schedules.map(scheduleRow) }
  },
}
