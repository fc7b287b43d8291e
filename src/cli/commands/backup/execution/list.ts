import type { CommandSpec } from '../../../spec.js'
import { EXECUTION_COLUMNS, executionRow } from '../schedule/fields.js'

export const backupExecutionList: CommandSpec = {
  path: ['backup', 'execution', 'list'],
  summary: "Lists the executions of a backup schedule, newest first: each one's backup, or its error (trove lab)",
  args: [{ name: 'schedule', description: 'ID of the schedule.' }],
  options: [{ flags: '--limit <limit>', description: 'Return up to N number of the most recent executions.', int: true }],
  output: 'list',
  examples: ['trove backup execution list 5d0f5a5e-4c1e-4b9e-9a7d-2f1f7f0e6c11', 'trove execution-list 5d0f5a5e-4c1e-4b9e-9a7d-2f1f7f0e6c11 -f json'],
  async run(ctx, args, opts) {
    const client = await ctx.client()
    let executions = await client.backupSchedules.executions(String(args.schedule))
    if (typeof opts.limit === 'number' && opts.limit > 0) executions = executions.slice(0, opts.limit)
    return { kind: 'list', columns: EXECUTION_COLUMNS, rows: executions.map(executionRow) }
  },
}
