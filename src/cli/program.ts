import { Command, CommanderError, Help, Option } from 'commander'
import type { TroveClient } from '../sdk/index.js'
import { ENV_VARS } from './config/index.js'
import { VERSION, makeClient } from './client-factory.js'
import { COMMANDS } from './commands/index.js'
import { reportError } from './errors.js'
import { registerCommands } from './register.js'
import { registerServerCommands } from './server-commands.js'
import { legacySpecs } from './legacy.js'
import { EXIT, type CommandContext, type IO } from './spec.js'

/** Summaries of the command groups, for help. */
export const GROUPS: Record<string, string> = {
  instance: 'Database instances',
  flavor: 'Flavors',
  datastore: 'Datastores',
  'datastore version': 'Datastore versions',
  cluster: 'Database clusters',
  backup: 'Backups',
  configuration: 'Configuration groups',
  db: 'Databases (schemas) of an instance',
  user: 'Database users of an instance',
  root: 'The root user of an instance or cluster',
  log: 'Guest logs',
  module: 'Modules',
  quota: 'Quotas (admin)',
  limit: 'Limits',
  admin: 'Keystone projects, users and roles of the lab (admin)',
}

/** The commander program with every command and the global --os-* options. */
export function buildProgram(io: IO, outcome: { promise?: Promise<void>; exitCode?: number }, onGlobals: (g: () => Record<string, unknown>) => void): Command {
  const program = new Command('trove')
  program
    .description('trove: a Database-as-a-Service toolkit (the OpenStack Trove API, a lab server, and this client)')
    .version(VERSION, '--version', 'show the version and exit')
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr, getOutHelpWidth: () => io.columns ?? 100, getErrHelpWidth: () => io.columns ?? 100 })
    .configureHelp({ formatItem: narrowFormatItem })
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
          client = makeClient(globals, io)
          // Ctrl-C: drop the requests in flight (a --wait long poll), so that the process ends now.
          const c = client
          io.signal?.addEventListener(
            'abort',
            () => {
              void c.close()
            },
            { once: true },
          )
        }
        return client
      },
    }
  }
  registerCommands(program, COMMANDS, makeContext, outcome, GROUPS)
  // One by one: a legacy alias that cannot be registered (a clash with its target's
  // options) is left out rather than breaking every command.
  for (const spec of legacySpecs(COMMANDS).specs) {
    try {
      registerCommands(program, [spec], makeContext, outcome, GROUPS)
    } catch (e) {
      const i = program.commands.findLastIndex((c) => c.name() === spec.path[0])
      if (i >= 0) (program.commands as Command[]).splice(i, 1)
      if (io.env.TROVE_DEBUG_LEGACY) io.stderr(`legacy ${spec.path[0]}: ${(e as Error).message}\n`)
    }
  }
  program.addHelpText(
    'after',
    "\nThe legacy trove shell's command names (list, show, create, backup-create, user-grant-access, ...) are\naccepted too, with their legacy arguments: 'trove <name> --help'. Exit status: see man trove.\n",
  )

  program
    .command('completion')
    .description('Print a shell completion script: eval "$(trove completion bash)"')
    .argument('<shell>', 'bash or zsh')
    .argument('[kind]', "(used by the script) 'names KIND' lists instance, flavor, datastore or backup names")
    .action((shell: string, kind: string | undefined) => {
      outcome.promise = (async () => {
        if (shell === 'names' && kind) {
          const { completionNames, completionCapMs } = await import('./completion.js')
          for (const n of await completionNames(makeContext, kind, completionCapMs(io.env))) io.stdout(`${n}\n`)
          return
        }
        if (shell !== 'bash' && shell !== 'zsh') throw new CommanderError(EXIT.usage, 'trove.usage', `error: completion: unknown shell '${shell}' (bash or zsh)`)
        const { completionScript } = await import('./completion.js')
        io.stdout(completionScript(program, shell))
      })()
    })
  program
    .command('top')
    .description("A live view of the project's instances (a snapshot table when not on a terminal)")
    .option('--interval <seconds>', 'refresh every N seconds', '5')
    .action((opts: { interval: string }) => {
      outcome.promise = (async () => {
        const interval = Number(opts.interval)
        if (!Number.isFinite(interval) || interval <= 0) throw new CommanderError(EXIT.usage, 'trove.usage', `error: --interval must be a positive number of seconds, not '${opts.interval}'`)
        const { runTop } = await import('./top/index.js')
        await runTop(makeContext(), { intervalS: interval })
      })()
    })

  registerServerCommands(program, io, outcome)
  program
    .command('agent')
    .description('Run a guest agent (started by the server, one per instance)')
    .requiredOption('--config <file>', "the instance's agent.json")
    .action(() => {
      /* handled by main()'s fast path */
    })
  return program
}

/**
 * Help items on a narrow terminal: when the widest term leaves the description column too
 * narrow to wrap (commander then lets lines run past the edge), the description goes under
 * its term instead, indented and wrapped to the width (as argparse does).
 */
function narrowFormatItem(this: Help, term: string, termWidth: number, description: string, helper: Help): string {
  const width = helper.helpWidth ?? 80
  if (!description || width - termWidth - 4 >= helper.minWidthToWrap) return Help.prototype.formatItem.call(this, term, termWidth, description, helper)
  const indent = 8
  return `  ${term}\n${' '.repeat(indent)}${helper.boxWrap(description, Math.max(20, width - indent)).replace(/\n/g, `\n${' '.repeat(indent)}`)}`
}

/** The command words of argv that name registered (sub)commands, e.g. ['instance', 'list']. */
function commandWords(program: Command, argv: string[]): string[] {
  const words: string[] = []
  let cur = program
  for (const w of argv) {
    if (w.startsWith('-')) continue
    const next = cur.commands.find((c) => c.name() === w)
    if (!next) break
    words.push(w)
    cur = next
  }
  return words
}

/** Parses argv, runs the command, prints errors; returns the exit code. */
export async function runProgram(argv: string[], io: IO): Promise<number> {
  const outcome: { promise?: Promise<void>; exitCode?: number } = {}
  let globals: () => Record<string, unknown> = () => ({})
  const abort = new AbortController()
  const onSigint = () => abort.abort(Object.assign(new Error('cancelled'), { name: 'AbortError' }))
  io.signal ??= abort.signal
  // on, not once: a second Ctrl-C while we finish must not kill us halfway (a stale spinner).
  process.on('SIGINT', onSigint)
  try {
    const program = buildProgram(io, outcome, (g) => {
      globals = g
    })
    try {
      await program.parseAsync(argv, { from: 'user' })
    } catch (e) {
      if (e instanceof CommanderError) {
        if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version') return EXIT.ok
        if (e.code === 'commander.help') return EXIT.usage
        if (e.code === 'trove.port' || e.code === 'trove.usage') {
          io.stderr(`${e.message}\n`)
          return EXIT.usage
        }
        // commander printed the one-line error; add where to look.
        io.stderr(
          `Try: trove ${commandWords(program, argv)
            .map((w) => `${w} `)
            .join('')}--help\n`,
        )
        return EXIT.usage
      }
      throw e
    }
    if (!outcome.promise) {
      // A group word alone (e.g. `trove instance`): show its help.
      if (argv.length === 0) program.outputHelp()
      return EXIT.usage
    }
    await outcome.promise
    return outcome.exitCode ?? EXIT.ok
  } catch (e) {
    if (e instanceof CommanderError) {
      io.stderr(`${e.message}\n`)
      return EXIT.usage
    }
    if (abort.signal.aborted && io.signal === abort.signal) {
      io.stderr('cancelled\n')
      return EXIT.cancelled
    }
    return reportError(e, io, Boolean(globals().debug))
  } finally {
    process.off('SIGINT', onSigint)
  }
}
