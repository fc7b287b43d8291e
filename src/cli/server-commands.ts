import { closeSync, openSync, readSync, statSync, watchFile, unwatchFile } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { type Command, CommanderError } from 'commander'
import { CliError } from './errors.js'
import { canPrompt, confirm } from './prompt.js'
import { EXIT, type IO } from './spec.js'

/**
 * `trove server` (the lab in the foreground) and its service verbs: start (in the
 * background), status, stop, logs and reset (tear everything of a lab down). The server
 * is reached only through its lazily loaded entry point (CONVENTIONS 1).
 */

interface ServerOpts {
  dataDir?: string
  host?: string
  port?: string
  rateLimits?: string
  isolation?: string
}

/**
 * The server: its one-file build (dist/server/bundle.js, scripts/build.mjs) where there is one,
 * which starts with about a quarter less CPU than its modules and packages loaded one by one (issue
 * 11); else its modules (src/ under a TypeScript loader, or a build made without esbuild).
 */
async function server(): Promise<typeof import('../server/index.js')> {
  const bundle = new URL('../server/bundle.js', import.meta.url)
  try {
    return (await import(bundle.href)) as typeof import('../server/index.js')
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND' || !String((e as Error).message).includes(fileURLToPath(bundle))) throw e
    return import('../server/index.js')
  }
}

/** --port / TROVE_PORT as a number; undefined when neither is given (the lab picks). */
function portOf(opts: ServerOpts, env: IO['env']): { port?: number; explicit: boolean } {
  const raw = opts.port ?? (env.TROVE_PORT || undefined)
  if (raw === undefined) return { explicit: false }
  const port = Number(raw)
  if (!/^\d+$/.test(raw) || port > 65535) throw new CommanderError(EXIT.usage, 'trove.port', `error: --port must be a port number, not '${raw}'`)
  return { port, explicit: true }
}

/** --isolation, else TROVE_ISOLATION; undefined when neither is given (the server's default). */
function isolationOf(opts: ServerOpts, env: Record<string, string | undefined>): 'none' | 'sandbox' | undefined {
  const v = opts.isolation ?? (env.TROVE_ISOLATION || undefined)
  if (v === undefined || v === 'none' || v === 'sandbox') return v
  const what = opts.isolation === undefined ? 'TROVE_ISOLATION' : '--isolation'
  throw new CommanderError(EXIT.usage, 'trove.isolation', `error: ${what} must be none or sandbox, not '${v}'`)
}

/** Lab failures (LabError) become the CLI's one-line errors. */
async function labCall<T>(f: () => Promise<T>): Promise<T> {
  try {
    return await f()
  } catch (e) {
    if (e instanceof Error && e.name === 'LabError') throw new CliError(e.message, EXIT.failure, (e as Error & { hint?: string }).hint)
    throw e
  }
}

export function registerServerCommands(program: Command, io: IO, outcome: { promise?: Promise<void> }): void {
  const dataDirHelp = 'state, instances, clouds.yaml and logs (env: TROVE_DATA_DIR; default /var/lib/trove-lab for root, else ~/.local/share/trove-lab)'
  const portHelp = 'API port (env: TROVE_PORT; default 18779, or the next free one when taken; 0 picks any free one)'
  const isolationHelp =
    'what new instances get (env: TROVE_ISOLATION): sandbox (the default: a runc sandbox, uid, volume and network namespace each, as root; docs/isolation.md) or none (every engine on a loopback address as one user: not isolated)'
  const rateHelp = "API rate limits as upstream writes them, '(VERB, URI, REGEX, VALUE, UNIT);...', or 'none' (default: 200 per minute per verb and project)"
  const cmd = program
    .command('server')
    .description('Run the lab server in the foreground: Trove API, Keystone subset, MQTT broker and task engine (instances keep running when it stops)')
    .option('--data-dir <dir>', dataDirHelp)
    .option('--host <address>', 'address to listen on (default 127.0.0.1)')
    .option('--port <port>', portHelp)
    .option('--rate-limits <rules>', rateHelp)
    .option('--isolation <mode>', isolationHelp)
    .addHelpText('after', '\nAs a service: trove server start | status | logs | stop | reset (see their --help).\n')
    .action((opts: ServerOpts) => {
      outcome.promise = (async () => {
        const { runServer, parseRateLimits } = await server()
        const { port, explicit } = portOf(opts, io.env)
        const isolation = isolationOf(opts, io.env)
        let rateLimits: ReturnType<typeof parseRateLimits> | undefined
        if (opts.rateLimits !== undefined) {
          try {
            rateLimits = opts.rateLimits === 'none' ? [] : parseRateLimits(opts.rateLimits)
          } catch (e) {
            throw new CommanderError(EXIT.usage, 'trove.port', `error: --rate-limits: ${(e as Error).message}`)
          }
        }
        await labCall(() =>
          runServer({ dataDir: opts.dataDir ?? io.env.TROVE_DATA_DIR, host: opts.host, port, explicitPort: explicit, ...(rateLimits ? { rateLimits } : {}), ...(isolation ? { isolation } : {}) }),
        )
      })()
    })
  const dataDirOf = async (sub: Command) => {
    const o = sub.optsWithGlobals() as ServerOpts
    const { defaultDataDir } = await server()
    return o.dataDir ?? defaultDataDir(io.env)
  }

  cmd
    .command('start')
    .description('Start the lab server in the background (output in DATA_DIR/server.log) and print where it listens')
    .option('--data-dir <dir>', dataDirHelp)
    .option('--host <address>', 'address to listen on (default 127.0.0.1)')
    .option('--port <port>', portHelp)
    .option('--rate-limits <rules>', rateHelp)
    .option('--isolation <mode>', isolationHelp)
    .action(function (this: Command) {
      outcome.promise = (async () => {
        const o = this.optsWithGlobals() as ServerOpts
        const { port, explicit } = portOf(o, io.env)
        const isolation = isolationOf(o, io.env)
        const { startBackground, banner } = await server()
        const state = await labCall(async () =>
          startBackground({ dataDir: await dataDirOf(this), host: o.host, ...(explicit ? { port } : {}), rateLimits: o.rateLimits, ...(isolation ? { isolation } : {}) }),
        )
        io.stdout(banner(state))
        io.stdout(`  stop it:   trove server stop      log: trove server logs      remove everything: trove server reset\n`)
      })()
    })

  cmd
    .command('status')
    .description('Say whether the lab server runs, where, and with which data dir (exit 1 when it does not run)')
    .option('--data-dir <dir>', dataDirHelp)
    .action(function (this: Command) {
      outcome.promise = (async () => {
        const { readState, banner } = await server()
        const dir = await dataDirOf(this)
        const s = readState(dir)
        if (!s) throw new CliError(`trove lab server: not running (data dir ${dir})`, EXIT.failure, 'trove server start')
        io.stdout(`trove lab server running (pid ${s.pid}) since ${s.startedAt}\n`)
        io.stdout(banner(s).replace(/^.*\n/, `  API        ${s.url}\n`))
      })()
    })

  cmd
    .command('stop')
    .description('Stop the lab server (instances keep running; the next start picks them up)')
    .option('--data-dir <dir>', dataDirHelp)
    .action(function (this: Command) {
      outcome.promise = (async () => {
        const { stopServer } = await server()
        const dir = await dataDirOf(this)
        const pid = await labCall(() => stopServer(dir))
        io.stdout(pid === undefined ? `trove lab server: not running (data dir ${dir})\n` : `trove lab server (pid ${pid}) stopped\n`)
      })()
    })

  cmd
    .command('logs')
    .description("Print a background lab server's log (DATA_DIR/server.log)")
    .option('--data-dir <dir>', dataDirHelp)
    .option('-n, --lines <n>', 'only the last N lines')
    .option('-f, --follow', 'keep printing what is appended (until Ctrl-C)')
    .action(function (this: Command, opts: { lines?: string; follow?: boolean }) {
      outcome.promise = (async () => {
        const { logFile } = await server()
        const file = logFile(await dataDirOf(this))
        let text: string
        let offset: number
        try {
          offset = statSync(file).size
          const fd = openSync(file, 'r')
          const buf = Buffer.alloc(offset)
          readSync(fd, buf, 0, offset, 0)
          closeSync(fd)
          text = buf.toString('utf8')
        } catch {
          throw new CliError(`no log at ${file}: the lab was never started with 'trove server start' there (a foreground 'trove server' logs to its terminal)`)
        }
        if (opts.lines !== undefined) {
          const n = Number(opts.lines)
          if (!Number.isInteger(n) || n < 0) throw new CommanderError(EXIT.usage, 'trove.usage', `error: --lines must be a number, not '${opts.lines}'`)
          text = text
            .split('\n')
            .slice(-n - 1)
            .join('\n')
        }
        io.stdout(text)
        if (!opts.follow) return
        await new Promise<void>((done) => {
          const onChange = () => {
            const size = statSync(file, { throwIfNoEntry: false })?.size ?? 0
            if (size < offset) offset = 0
            if (size === offset) return
            const fd = openSync(file, 'r')
            const buf = Buffer.alloc(size - offset)
            readSync(fd, buf, 0, buf.length, offset)
            closeSync(fd)
            offset = size
            io.stdout(buf.toString('utf8'))
          }
          watchFile(file, { interval: 250 }, onChange)
          io.signal?.addEventListener('abort', () => {
            unwatchFile(file, onChange)
            done()
          })
        })
      })()
    })

  cmd
    .command('reset')
    .description("Tear the lab down: stop its server, kill its instances' agents and engines, remove their cgroups, address claims and the whole data dir")
    .option('--data-dir <dir>', dataDirHelp)
    .option('-y, --yes', 'do not ask for confirmation (needed off a terminal)')
    .action(function (this: Command, opts: { yes?: boolean }) {
      outcome.promise = (async () => {
        const dir = await dataDirOf(this)
        if (!opts.yes && !canPrompt(io)) throw new CliError(`trove server reset removes every instance and all data of ${dir}: add --yes`, EXIT.usage)
        await confirm(
          {
            io,
            globals: {},
            client: async () => {
              throw new Error('no client')
            },
          },
          `Remove every instance and all data of the lab at ${dir}?`,
          opts,
        )
        const { resetLab } = await server()
        const r = await labCall(() => resetLab(dir))
        if (r.missing) {
          io.stdout(`no lab at ${r.dataDir}: nothing to remove\n`)
          return
        }
        io.stdout(
          `removed the lab at ${r.dataDir}: ${r.serverPid ? `server (pid ${r.serverPid}) stopped, ` : ''}${r.instances} instance(s), ${r.processes} process(es), ${r.addresses} address claim(s), ${r.cgroups} cgroup(s)${r.sandboxes ? `, ${r.sandboxes} sandbox(es)` : ''}\n`,
        )
      })()
    })
}
