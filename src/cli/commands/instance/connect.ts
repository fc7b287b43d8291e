import { EXIT, type CommandSpec } from '../../spec.js'
import { CliError } from '../../errors.js'
import { findInstance } from '../../resolve.js'
import { connectionInfo } from './connection-info.js'

export const instanceConnect: CommandSpec = {
  path: ['instance', 'connect'],
  summary: "Open the engine's own client (mariadb, psql, redis-cli) on an instance",
  description: [
    'The password is never taken on the command line (it would show in process lists): the client',
    'reads it from MYSQL_PWD, PGPASSWORD or REDISCLI_AUTH when set, else asks for it on the terminal.',
    "The lab does not keep passwords: root's is the one `trove root enable` printed.",
  ].join('\n'),
  args: [{ name: 'instance', description: 'Instance (name or ID)' }],
  options: [
    { flags: '--user <user>', description: 'database user (default: root)' },
    { flags: '--database <database>', description: 'database to open (redis: its number)' },
  ],
  output: 'none',
  examples: ['trove root enable db1 && trove instance connect db1', 'PGPASSWORD=... trove instance connect pg1 --user app --database app'],
  async run(ctx, args, opts) {
    const { io } = ctx
    if (!io.exec) throw new CliError('instance connect needs a terminal process to run the client in')
    const client = await ctx.client()
    const c = connectionInfo(await findInstance(client, String(args.instance)), { user: opts.user as string | undefined, database: opts.database as string | undefined })
    const prompt = !io.env[c.passwordEnv] && io.stdinIsTTY
    for (const program of c.programs) {
      const code = await io.exec(program, c.args(prompt))
      if (code === undefined) continue // not installed: try the next name
      return { kind: 'exit', code }
    }
    throw new CliError(`${c.programs.join(' or ')} not found on PATH`, EXIT.failure, `install the ${c.datastore} client, or connect with: trove instance connection ${String(args.instance)}`)
  },
}
