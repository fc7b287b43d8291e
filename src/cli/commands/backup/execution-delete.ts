import type { CommandSpec } from '../../spec.js'
import { CliError } from '../../errors.js'

export const backupExecutionDelete: CommandSpec = {
  path: ['backup', 'execution', 'delete'],
  summary: 'Deletes a Mistral execution (not supported: scheduled backups are Mistral workflows)',
  args: [{ name: 'execution', description: 'ID of the execution to delete.' }],
  output: 'none',
  examples: ['trove backup execution delete 7f1ab4c2-0d3e-4f4e-9d2a-3c1d2b6e8a90'],
  async run(ctx, args) {
    let lab = false
    try {
      lab = await (await ctx.client()).isLab()
    } catch {
      /* no usable settings: not known to be a lab */
    }
    throw new CliError(`cannot delete execution ${String(args.execution)}: Mistral workflow executions (scheduled backups) ${lab ? 'do not exist in this lab' : 'are not supported by this client'}`)
  },
}
