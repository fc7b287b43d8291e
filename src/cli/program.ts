import { readFileSync } from 'node:fs'
import { Command, CommanderError, Option } from 'commander'
import { TroveClient } from '../sdk/index.js'
import { ENV_VARS, resolveCliAuth } from './config/index.js'
import { COMMANDS } from './commands/index.js'
import { describeError } from './errors.js'
import { registerCommands } from './register.js'
import { EXIT, type CommandContext, type IO } from './spec.js'

const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version

/** Summaries of the command groups, for help. */
export const GROUPS: Record<string, string> = {
  instance: 'Database instances',
  flavor: 'Flavors',
  datastore: 'Datastores',
  'datastore version': 'Datastore versions',
}

/** The commander program with every command and the global --os-* options. */
export function buildProgram(io: IO, outcome: { promise?: Promise<void> }, onGlobals: (g: () => Record<string, unknown>) => void): Command {
  const program = new Command('trove')
  program
    .description('trove: a Database-as-a-Service toolkit (the OpenStack Trove API, a lab server, and this client)')
    .version(VERSION, '--version', 'show the version and exit')
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr, getOutHelpWidth: () => io.columns ?? 100, getErrHelpWidth: () => io.columns ?? 100 })
    .showSuggestionAfterError()
    .helpCommand(false)
  for (const v of ENV_VARS) {
    if (!v.flag || !(v.flag.startsWith('--os-') || v.flag === '--insecure')) continue
    const valued = !['--insecure'].includes(v.flag)
    program.addOption(new Option(valued ? `${v.flag} <${v.flag.replace(/^--os-/, '').replace(/-/g, '_')}>` : v.flag, `${v.description} (env: ${v.name})`))
  }
  program.addOption(new Option('--debug', 'print requests, responses and stack traces (secrets redacted)'))
  onGlobals(() => program.opts())

  const makeContext = (): CommandContext => {
    const globals = program.opts()
    let client: TroveClient | undefined
    return {
      io,
      globals,
      async client() {
        if (!client) {
          client = new TroveClient({
            auth: resolveCliAuth(globals as Record<string, string | undefined>, io.env),
            userAgent: `trove/${VERSION}`,
            ...(globals.debug ? { debug: (l: string) => io.stderr(`${l}\n`) } : {}),
          })
        }
        return client
      },
    }
  }
  registerCommands(program, COMMANDS, makeContext, outcome, GROUPS)

  program.command('server')
    .description('Run the lab server: Trove API, Keystone subset, MQTT broker and task engine (instances keep running when it stops)')
    .option('--data-dir <dir>', 'state, instances and clouds.yaml (env: TROVE_DATA_DIR; default /var/lib/trove for root, else ~/.local/share/trove)')
    .option('--host <address>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'API port (0 picks a free one)', '8779')
    .option('--rate-limits <rules>', "API rate limits as upstream writes them, '(VERB, URI, REGEX, VALUE, UNIT);...', or 'none' (default: 200 per minute per verb and project)")
    .action((opts: { dataDir?: string; host: string; port: string; rateLimits?: string }) => {
      outcome.promise = (async () => {
        const { runServer, parseRateLimits } = await import('../server/index.js')
        const port = Number(opts.port)
        if (!Number.isInteger(port) || port < 0 || port > 65535) throw new CommanderError(EXIT.usage, 'trove.port', `error: --port must be a port number, not '${opts.port}'`)
        let rateLimits
        if (opts.rateLimits !== undefined) {
          try {
            rateLimits = opts.rateLimits === 'none' ? [] : parseRateLimits(opts.rateLimits)
          } catch (e) {
            throw new CommanderError(EXIT.usage, 'trove.port', `error: --rate-limits: ${(e as Error).message}`)
          }
        }
        await runServer({ dataDir: opts.dataDir ?? io.env.TROVE_DATA_DIR, host: opts.host, port, ...(rateLimits ? { rateLimits } : {}) })
      })()
    })
  program.command('agent')
    .description('Run a guest agent (started by the server, one per instance)')
    .requiredOption('--config <file>', "the instance's agent.json")
    .action(() => { /* handled by main()'s fast path */ })
  return program
}

/** Parses argv, runs the command, prints errors; returns the exit code. */
export async function runProgram(argv: string[], io: IO): Promise<number> {
  const outcome: { promise?: Promise<void> } = {}
  let globals: () => Record<string, unknown> = () => ({})
  const abort = new AbortController()
  const onSigint = () => abort.abort(Object.assign(new Error('cancelled'), { name: 'AbortError' }))
  io.signal ??= abort.signal
  process.once('SIGINT', onSigint)
  try {
    const program = buildProgram(io, outcome, (g) => { globals = g })
    try {
      await program.parseAsync(argv, { from: 'user' })
    } catch (e) {
      if (e instanceof CommanderError) {
        if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version') return EXIT.ok
        if (e.code === 'trove.port') { io.stderr(`${e.message}\n`); return EXIT.usage }
        return EXIT.usage
      }
      throw e
    }
    if (!outcome.promise) {
      // A group word alone (e.g. `trove instance`): show its help.
      return argv.length === 0 ? (program.outputHelp(), EXIT.usage) : EXIT.usage
    }
    await outcome.promise
    return EXIT.ok
  } catch (e) {
    if (e instanceof CommanderError) { io.stderr(`${e.message}\n`); return EXIT.usage }
    const d = describeError(e)
    io.stderr(`${d.message}\n`)
    if (d.hint) io.stderr(`Try: ${d.hint}\n`)
    if (globals().debug && e instanceof Error && e.stack) io.stderr(`${e.stack}\n`)
    return d.exitCode
  } finally {
    process.off('SIGINT', onSigint)
  }
}
