import type { CommandSpec } from '../../spec.js'
import { findModule } from './find.js'

export const moduleReapply: CommandSpec = {
  path: ['module', 'reapply'],
  summary: 'Reapply a module',
  description: 'Legacy `trove module-reapply`.',
  args: [{ name: 'module', description: 'ID or name of the module' }],
  options: [
    { flags: '--md5 <md5>', description: 'Reapply the module only to instances applied with this md5' },
    { flags: '--include-clustered', description: 'Include instances that are part of a cluster' },
    { flags: '--batch-size <size>', description: 'Number of instances to reapply the module to before sleeping', int: true },
    { flags: '--delay <seconds>', description: 'Time to sleep in seconds between batches', int: true },
    { flags: '--force', description: 'Force reapply even on modules already having the current md5' },
  ],
  output: 'none',
  examples: ['trove module reapply ping1 --force'],
  async run(ctx, args, opts) {
    const client = await ctx.client()
    const m = await findModule(client, String(args.module))
    await client.modules.reapply(m.id, {
      ...(opts.md5 ? { md5: String(opts.md5) } : {}),
      include_clustered: opts.includeClustered ? 1 : 0,
      ...(opts.batchSize !== undefined ? { batch_size: Number(opts.batchSize) } : {}),
      ...(opts.delay !== undefined ? { batch_delay: Number(opts.delay) } : {}),
      force: opts.force ? 1 : 0,
    })
    return { kind: 'none' }
  },
}
