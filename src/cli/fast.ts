import { outputOptionSpecs } from './output/option-specs.js'
import type { CommandSpec, IO } from './spec.js'

/**
 * The fast path for the most used commands (`instance list`, `instance create`, ...): no commander,
 * no command index, no yaml library; only the command's own module, the SDK and the
 * renderer load. Anything this small parser does not fully understand (help, global
 * options, unknown or unusual options, a wrong number of arguments) returns
 * undefined, and main() takes the normal path, which gives the usual errors.
 */
const FAST: Record<string, () => Promise<CommandSpec>> = {
  'instance list': async () => (await import('./commands/instance/list.js')).instanceList,
  'instance show': async () => (await import('./commands/instance/show.js')).instanceShow,
  // What a user waits for most (issue 11: `instance create --wait` <= the engine's own start + 0.3 s).
  'instance create': async () => (await import('./commands/instance/create.js')).instanceCreate,
  'flavor list': async () => (await import('./commands/flavor/list.js')).flavorList,
  'flavor show': async () => (await import('./commands/flavor/show.js')).flavorShow,
  'datastore list': async () => (await import('./commands/datastore/list.js')).datastoreList,
  'datastore show': async () => (await import('./commands/datastore/show.js')).datastoreShow,
  'datastore version list': async () => (await import('./commands/datastore/version/list.js')).datastoreVersionList,
  'cluster list': async () => (await import('./commands/cluster/list.js')).clusterList,
  'configuration list': async () => (await import('./commands/configuration/list.js')).configurationList,
  'db list': async () => (await import('./commands/db/list.js')).dbList,
  'user list': async () => (await import('./commands/user/list.js')).userList,
}

interface FastOption {
  longs: string[]
  short?: string
  attr: string
  valued: boolean
  repeatable?: boolean
  int?: boolean
  /** a value <= 0 goes to commander, which refuses it before any request */
  positive?: boolean
  choices?: string[]
}

function camel(s: string): string {
  return s.replace(/-([a-z0-9])/g, (_m, c: string) => c.toUpperCase())
}

/** commander's reading of a flags string; undefined for forms this parser leaves to commander. */
function optionOf(flags: string, extra: Partial<FastOption> = {}): FastOption | undefined {
  if (/\[|\.\.\.|--no-/.test(flags)) return undefined
  const words = flags.split(/[ ,|]+/).filter(Boolean)
  const longs = words.filter((w) => w.startsWith('--'))
  const short = words.find((w) => /^-[^-]$/.test(w))
  if (!longs.length) return undefined
  return { longs, short, attr: camel(longs[longs.length - 1].slice(2)), valued: flags.includes('<'), ...extra }
}

function outputOptions(kind: 'list' | 'show'): FastOption[] {
  return outputOptionSpecs(kind).map((o) => optionOf(o.flags, { repeatable: o.repeatable, int: o.int, choices: o.choices ? [...o.choices] : undefined })!)
}

/**
 * Parses the words after the command path; undefined = leave it to commander. An option whose
 * form this parser does not read (variadic, optional value, --no-) is left out: a command line
 * that uses it finds no option here and goes to commander.
 */
export function fastParse(spec: CommandSpec, rest: string[]): { args: Record<string, unknown>; opts: Record<string, unknown> } | undefined {
  const options: FastOption[] = []
  const opts: Record<string, unknown> = {}
  if (spec.output !== 'none') for (const o of outputOptionSpecs(spec.output)) if (o.default !== undefined) opts[optionOf(o.flags)!.attr] = o.default
  for (const o of spec.options ?? []) {
    const f = optionOf(o.flags, { repeatable: o.repeatable, int: o.int, choices: o.choices })
    // A default this parser cannot attribute would be missing from opts.
    if (!f && o.default !== undefined) return undefined
    if (!f) continue
    options.push(f)
    if (o.default !== undefined) opts[f.attr] = o.default
  }
  if (spec.wait) options.push(optionOf('--wait')!, optionOf('--timeout <seconds>', { int: true, positive: true })!)
  if (spec.output !== 'none') options.push(...outputOptions(spec.output))
  const positional: string[] = []
  for (let i = 0; i < rest.length; i++) {
    const w = rest[i]
    if (w === '--' || w === '-h' || w === '--help') return undefined
    if (!w.startsWith('-') || w === '-') {
      positional.push(w)
      continue
    }
    const eq = w.startsWith('--') ? w.indexOf('=') : -1
    const name = eq > 0 ? w.slice(0, eq) : w
    const o = options.find((x) => x.longs.includes(name) || x.short === name)
    if (!o) return undefined
    let value: unknown = true
    if (o.valued) {
      if (eq > 0) value = w.slice(eq + 1)
      else if (i + 1 < rest.length) value = rest[++i]
      else return undefined
      const v = String(value)
      if (o.choices && !o.choices.includes(v)) return undefined
      if (o.int) {
        if (!/^-?\d+$/.test(v.trim())) return undefined
        value = Number.parseInt(v, 10)
        if (o.positive && (value as number) <= 0) return undefined
      }
    } else if (eq > 0) return undefined
    opts[o.attr] = o.repeatable ? [...((opts[o.attr] as unknown[] | undefined) ?? []), value] : value
  }
  const args: Record<string, unknown> = {}
  const specArgs = spec.args ?? []
  let p = 0
  for (const a of specArgs) {
    if (a.variadic) {
      if (p >= positional.length && !a.optional) return undefined
      args[a.name] = positional.slice(p)
      p = positional.length
      continue
    }
    if (p >= positional.length) {
      if (a.optional) continue
      return undefined
    }
    args[a.name] = positional[p++]
  }
  if (p !== positional.length) return undefined
  // An empty name: the normal path's usage error.
  if (positional.some((w) => w.trim() === '')) return undefined
  return { args, opts }
}

/** Runs argv on the fast path; undefined when it does not apply. */
export async function runFast(argv: string[], io: IO): Promise<number | undefined> {
  let words = 0
  let key = ''
  for (let n = Math.min(3, argv.length); n >= 2; n--) {
    const k = argv.slice(0, n).join(' ')
    if (FAST[k]) {
      key = k
      words = n
      break
    }
  }
  if (!key) return undefined
  const spec = await FAST[key]()
  const parsed = fastParse(spec, argv.slice(words))
  if (!parsed) return undefined
  const [{ makeClient }, { render }, { formatOptions }, { reportError }] = await Promise.all([
    import('./client-factory.js'),
    import('./output/index.js'),
    import('./format-options.js'),
    import('./errors.js'),
  ])
  const abort = new AbortController()
  const onSigint = () => abort.abort(Object.assign(new Error('cancelled'), { name: 'AbortError' }))
  io.signal ??= abort.signal
  // on, not once: ink's signal-exit (a --wait on a terminal) re-raises a SIGINT that no other
  // listener is left to handle, and a once-listener is removed before it runs: the process would die.
  process.on('SIGINT', onSigint)
  try {
    let client: ReturnType<typeof makeClient> | undefined
    // Ctrl-C drops the requests in flight (a --wait long poll), as on the normal path.
    io.signal.addEventListener('abort', () => void client?.close(), { once: true })
    const ctx = { io, globals: {}, client: async () => (client ??= makeClient({}, io)) }
    const data = await spec.run(ctx, parsed.args, parsed.opts)
    if (data.kind === 'exit') return data.code
    const text = render(data, formatOptions(parsed.opts, io))
    if (text) io.stdout(text)
    void client?.close()
    return 0
  } catch (e) {
    if (abort.signal.aborted && io.signal === abort.signal) {
      io.stderr('cancelled\n')
      return 3
    }
    return reportError(e, io, false)
  } finally {
    process.off('SIGINT', onSigint)
  }
}
