import { writeFile } from 'node:fs/promises'
import type { CommandSpec } from '../../spec.js'
import { findInstance } from '../../resolve.js'
import { publishedText } from './published.js'

export const logSave: CommandSpec = {
  path: ['log', 'save'],
  summary: 'Save log file for instance',
  args: [
    { name: 'instance', description: 'Name or ID of the instance' },
    { name: 'log_name', description: 'Name of log to publish' },
  ],
  options: [
    { flags: '--publish', description: 'Publish latest entries from guest before display' },
    { flags: '--file <file>', description: 'Path of file to save log to for instance (default trove-<instance id>-<log name>.log)' },
  ],
  output: 'none',
  examples: ['trove log save db1 general --publish --file general.log'],
  async run(ctx, args, opts) {
    const client = await ctx.client()
    const inst = await findInstance(client, String(args.instance))
    const log = String(args.log_name)
    const text = await publishedText(client, inst.id, log, { publish: !!opts.publish, lines: 0 }, (s) => ctx.io.stdout(s))
    if (text === undefined) return { kind: 'none' }
    const file = typeof opts.file === 'string' && opts.file !== '' ? opts.file : `trove-${inst.id}-${log}.log`
    await writeFile(file, text, { mode: 0o600 })
    ctx.io.stdout(`Log "${log}" written to ${file}\n`)
    return { kind: 'none' }
  },
}
