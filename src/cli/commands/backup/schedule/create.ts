import type { CommandSpec } from '../../../spec.js'
import { instanceRefFor } from '../fields.js'
import { scheduleFields } from './fields.js'

export const backupScheduleCreate: CommandSpec = {
  path: ['backup', 'schedule', 'create'],
  summary: 'Schedules backups of an instance (trove lab; the server runs them, no Mistral)',
  description:
    "PATTERN has five cron fields, minute hour day-of-month month day-of-week, in UTC (or @hourly, @daily, @weekly, @monthly, @yearly). Each run takes an automated backup named NAME, kept for the instance's backup retention (--backup-retention of instance create and update).",
  args: [
    { name: 'instance', description: 'ID or name of the instance.' },
    { name: 'pattern', description: 'Cron style pattern describing schedule occurrence (UTC).' },
    { name: 'name', description: 'Name of the backups.' },
  ],
  options: [
    { flags: '--description <description>', description: 'An optional description for the backups.' },
    { flags: '--incremental', description: 'Incremental backups on top of the most recent backup (a full one when there is none).' },
  ],
  output: 'show',
  examples: ["trove backup schedule create db1 '0 3 * * *' nightly", "trove schedule-create db1 '*/30 * * * *' halfhourly --incremental"],
  async run(ctx, args, opts) {
    const client = await ctx.client()
    const instance = await instanceRefFor(client, String(args.instance))
    const s = await client.backupSchedules.create(instance, {
      name: String(args.name),
      pattern: String(args.pattern),
      ...(opts.description !== undefined ? { description: String(opts.description) } : {}),
      incremental: Boolean(opts.incremental),
    })
    return scheduleFields(s)
  },
}
