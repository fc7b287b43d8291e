import type { CommandSpec } from '../../../spec.js'
import { CliError } from '../../../errors.js'

export const backupExecutionDelete: CommandSpec = {
  path: ['backup', 'execution', 'delete'],
  summary: 'Deletes an execution of a backup schedule (the record; its backup stays)',
  description: 'Against a trove lab, deletes the record of one run of a backup schedule. Against another cloud, scheduled backups are Mistral workflows, which this client does not drive.',
  args: [{ name: 'execution', description: 'ID of the execution to delete.' }],
  output: 'none',
  examples: ['trove backup execution delete 7f1ab4c2-0d3e-4f4e-9d2a-3c1d2b6e8a90'],
  async run(ctx, args) {
    let lab = false
    const client = await ctx.client().catch(() => undefined)
    try {
      lab = client ? await client.isLab() : false
    } catch {
      /* no usable settings: not known to be a lab */
    }
    if (!client || !lab) throw new CliError(`cannot delete execution ${String(args.execution)}: Mistral workflow executions (scheduled backups) are not supported by this client`)
    await client.backupSchedules.deleteExecution(String(args.execution))
    return { kind: 'none' }
  },
}
