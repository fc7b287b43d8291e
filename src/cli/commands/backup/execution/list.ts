import type { CommandSpec } from '../../../spec.js'
import { CliError } from '../../../errors.js'
import { EXECUTION_COLUMNS, executionRow } from '../schedule/fields.js'

export const backupExecutionList: CommandSpec = {
  path: ['backup', 'execution', 'list'],
  summary: "Lists the executions of a backup schedule, newest first: each one's backup, or its error (trove lab)",
  args: [{ name: 'schedule', description: 'ID of the schedule.' }],
  options: [
    { flags: '--limit <limit>', description: 'Return up to N number of the most recent executions.', int: true },
    { flags: '--marker <ID>', description: 'Begin displaying the results after the execution with this ID (the last one of the previous page).' },
  ],
  output: 'list',
  examples: ['trove backup execution list 5d0f5a5e-4c1e-4b9e-9a7d-2f1f7f0e6c11', 'trove execution-list 5d0f5a5e-4c1e-4b9e-9a7d-2f1f7f0e6c11 -f json'],
  async run(ctx, args, opts) {
    const client = await ctx.client()
    let executions = await client.backupSchedules.executions(String(args.schedule))
    if (opts.marker !== undefined) {
      const at = executions.findIndex((e) => e.id === opts.marker)
      if (at < 0) throw new CliError(`No execution with ID '${String(opts.marker)}' in schedule ${String(args.schedule)}.`, 1)
      executions = executions.slice(at + 1)
    }
    if (typeof opts.limit === 'number' && opts.limit > 0) executions = executions.slice(0, opts.limit)
    return { kind: 'list', columns: EXECUTION_COLUMNS, rows: executions.map(executionRow) }
  },
}
