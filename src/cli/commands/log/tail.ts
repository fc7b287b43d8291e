import type { CommandSpec } from '../../spec.js'
import { findInstance } from '../../resolve.js'
import { publishedText } from './published.js'

export const logTail: CommandSpec = {
  path: ['log', 'tail'],
  summary: 'Display log entries for instance',
  args: [
    { name: 'instance', description: 'Name or ID of the instance' },
    { name: 'log_name', description: 'Name of log to publish' },
  ],
  options: [
    { flags: '--publish', description: 'Publish latest entries from guest before display' },
    { flags: '--lines <lines>', description: 'Publish latest entries from guest before display (0 = all)', default: 50, int: true },
  ],
  output: 'none',
  examples: ['trove log tail db1 general --publish --lines 20'],
  async run(ctx, args, opts) {
    const client = await ctx.client()
    const inst = await findInstance(client, String(args.instance))
    const lines = Number(opts.lines ?? 50)
    const text = await publishedText(client, inst.id, String(args.log_name), { publish: !!opts.publish, lines: Math.max(0, lines) }, (s) => ctx.io.stdout(s))
    if (text) ctx.io.stdout(text.endsWith('\n') ? text : text + '\n')
    return { kind: 'none' }
  },
}
