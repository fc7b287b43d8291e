import type { CommandSpec } from '../../spec.js'
import { findInstance } from '../../resolve.js'
import { connectionInfo } from './connection-info.js'

export const instanceConnection: CommandSpec = {
  path: ['instance', 'connection'],
  summary: "Show how to connect to an instance's database (URL and client command)",
  description: 'The password is never shown: the lab does not keep it. Give it to the client through the variable named in password_env, or type it when the client asks.',
  args: [{ name: 'instance', description: 'Instance (name or ID)' }],
  options: [
    { flags: '--user <user>', description: 'database user (default: root)' },
    { flags: '--database <database>', description: 'database (redis: its number)' },
  ],
  output: 'show',
  examples: ['trove instance connection db1', 'trove instance connection db1 --user app --database app -f value -c url'],
  async run(ctx, args, opts) {
    const client = await ctx.client()
    const c = connectionInfo(await findInstance(client, String(args.instance)), { user: opts.user as string | undefined, database: opts.database as string | undefined })
    return {
      kind: 'show',
      fields: {
        datastore: c.datastore,
        host: c.host,
        port: c.port,
        user: c.user,
        database: c.database ?? '',
        url: c.url,
        password_env: c.passwordEnv,
        command: [c.programs[0], ...c.args(false)].join(' '),
      },
    }
  },
}
