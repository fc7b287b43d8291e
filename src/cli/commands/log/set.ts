import type { CommandSpec } from '../../spec.js'
import { findInstance } from '../../resolve.js'

export const logSet: CommandSpec = {
  path: ['log', 'set'],
  summary: 'Instructs Trove guest to set log',
  description: 'Enables, disables, publishes or discards a guest log; publishing also enables a disabled USER log.',
  args: [
    { name: 'instance', description: 'Name or ID of the instance' },
    { name: 'log_name', description: 'Name of log to set' },
  ],
  options: [
    { flags: '--enable', description: 'Whether or not to enable log collection' },
    { flags: '--disable', description: 'Whether or not to disable log collection' },
    { flags: '--publish', description: 'Whether or not to publish log files to the backend storage for logs (Swift by default)' },
    { flags: '--discard', description: 'Whether or not to discard the existing logs before publish' },
  ],
  output: 'show',
  examples: ['trove log set db1 general --enable', 'trove log set db1 general --publish'],
  async run(ctx, args, opts) {
    const client = await ctx.client()
    const inst = await findInstance(client, String(args.instance))
    const log = await client.logs.action(inst.id, String(args.log_name), {
      enable: !!opts.enable,
      disable: !!opts.disable,
      publish: !!opts.publish,
      discard: !!opts.discard,
    })
    return { kind: 'show', fields: { ...log } }
  },
}
