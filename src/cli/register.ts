import { type Command, Option, InvalidArgumentError } from 'commander'
import { render } from './output/index.js'
import { LIST_FORMATS, outputOptionSpecs, SHOW_FORMATS } from './output/option-specs.js'
import { formatOptions } from './format-options.js'
import { usageError } from './errors.js'
import type { CommandContext, CommandSpec } from './spec.js'

const int = (v: string) => {
  if (!/^-?\d+$/.test(v.trim())) throw new InvalidArgumentError('not an integer.')
  return Number.parseInt(v, 10)
}
/** --timeout: checked while parsing, so that a bad value never reaches a request (nothing half-applied). */
const positiveInt = (v: string) => {
  const n = int(v)
  if (n <= 0) throw new InvalidArgumentError('must be a positive number of seconds.')
  return n
}
const collectRepeat = (v: string, prev: string[] | undefined) => [...(prev ?? []), v]

/** cliff's formatter options for a list or show command (cli.md section 3), from the table the fast path also parses with. */
function addOutputOptions(cmd: Command, kind: 'list' | 'show'): void {
  for (const spec of outputOptionSpecs(kind)) {
    const option = new Option(spec.flags, spec.help)
    if (spec.choices) option.choices([...spec.choices])
    if (spec.default !== undefined) option.default(spec.default)
    if (spec.int) option.argParser(int)
    if (spec.repeatable) option.argParser(collectRepeat)
    cmd.addOption(option)
  }
}

/** An example as shell lines that fit `width`: broken between words with ` \\` continuations. */
export function wrapExample(example: string, width: number): string {
  const lines: string[] = []
  let line = '  '
  for (const word of example.split(' ')) {
    if (line.trim() && line.length + 1 + word.length + 2 > width) {
      lines.push(line + ' \\')
      line = '      '
    }
    line += (line.trim() ? ' ' : '') + word
  }
  return [...lines, line].join('\n')
}

/** Finds or creates the chain of parent commands for a spec's words. */
function parentFor(program: Command, words: string[], summaries: Record<string, string>): Command {
  let cur = program
  for (let i = 0; i < words.length; i++) {
    const w = words[i]
    let next = cur.commands.find((c) => c.name() === w)
    if (!next) {
      next = cur.command(w).description(summaries[words.slice(0, i + 1).join(' ')] ?? `${words.slice(0, i + 1).join(' ')} commands`)
      next.helpCommand(false)
    }
    cur = next
  }
  return cur
}

/**
 * Turns command specs into commander commands. When a command is invoked its
 * result is rendered and printed; the promise it leaves in `outcome` carries any
 * error to main(), which owns exit codes.
 */
export function registerCommands(
  program: Command,
  specs: CommandSpec[],
  makeContext: (cmd: Command) => CommandContext,
  outcome: { promise?: Promise<void>; exitCode?: number },
  groupSummaries: Record<string, string> = {},
): void {
  const leaves: Command[] = []
  for (const spec of specs) {
    const parent = parentFor(program, spec.path.slice(0, -1), groupSummaries)
    const cmd = parent.command(spec.path[spec.path.length - 1], { hidden: Boolean(spec.hidden) }).description(spec.summary + (spec.description ? `\n\n${spec.description}` : ''))
    for (const a of spec.args ?? []) {
      const n = a.variadic ? `${a.name}...` : a.name
      cmd.argument(a.optional ? `[${n}]` : `<${n}>`, a.description)
    }
    for (const o of spec.options ?? []) {
      const opt = new Option(o.flags, o.description)
      if (o.choices) opt.choices(o.choices)
      if (o.default !== undefined) opt.default(o.default)
      if (o.int) opt.argParser(int)
      else if (o.repeatable) opt.argParser(collectRepeat)
      if (o.hidden) opt.hideHelp()
      cmd.addOption(opt)
    }
    if (spec.wait) {
      cmd.addOption(new Option('--wait', 'wait until the operation has finished (shows progress on a terminal)'))
      cmd.addOption(new Option('--timeout <seconds>', 'with --wait: give up after this many seconds (exit code 8)').argParser(positiveInt))
    }
    leaves.push(cmd)
    if (spec.output !== 'none') addOutputOptions(cmd, spec.output)
    if (spec.examples?.length) {
      const examples = spec.examples
      cmd.addHelpText('after', (ctx) => {
        const out = ctx.command.configureOutput()
        const width = (ctx.error ? out.getErrHelpWidth?.() : out.getOutHelpWidth?.()) ?? 80
        return `\nExamples:\n${examples.map((e) => wrapExample(e, width)).join('\n')}\n`
      })
    }
    cmd.action((...params: unknown[]) => {
      const command = params[params.length - 1] as Command
      const opts = command.opts()
      const args: Record<string, unknown> = {}
      ;(spec.args ?? []).forEach((a, i) => {
        args[a.name] = params[i]
      })
      const ctx = makeContext(command)
      // An empty name or id would look up the whole collection (GET /instances/) and fail in odd ways.
      const empty = (spec.args ?? []).find((a) => !a.allowEmpty && [args[a.name]].flat().some((v) => typeof v === 'string' && v.trim() === ''))
      if (empty) {
        outcome.promise = Promise.reject(usageError(`error: argument '${empty.name}' must not be empty`, `trove ${spec.path.join(' ')} --help`))
        return
      }
      outcome.promise = spec.run(ctx, args, opts).then((data) => {
        if (data.kind === 'exit') {
          outcome.exitCode = data.code
          return
        }
        const text = render(data, formatOptions(opts, ctx.io))
        if (text) ctx.io.stdout(text)
      })
    })
  }
  // A command that is also a group ('user show' and 'user show access'): commander parses the
  // options after the subcommand's name as the parent's own ('-f json', '--host h'), so hand
  // the ones given on the command line to the subcommand before it runs.
  for (const cmd of leaves) {
    if (cmd.commands.length === 0) continue
    // The parent parses the subcommand's '-f csv' first: accept any format here (help still
    // lists the parent's own); the renderer checks it against the command that runs.
    cmd.options
      .find((o) => o.long === '--format')
      ?.argParser((v: string) => {
        if (!([...SHOW_FORMATS, ...LIST_FORMATS] as string[]).includes(v)) throw new InvalidArgumentError(`Allowed choices are ${SHOW_FORMATS.join(', ')}.`)
        return v
      })
    cmd.hook('preSubcommand', (parent, sub) => {
      for (const o of parent.options) {
        const key = o.attributeName()
        if (parent.getOptionValueSource(key) !== 'cli') continue
        if (!sub.options.some((x) => x.attributeName() === key)) sub.error(`error: unknown option '${o.long ?? o.short ?? key}'`, { code: 'commander.unknownOption', exitCode: 2 })
        sub.setOptionValueWithSource(key, parent.getOptionValue(key), 'cli')
      }
    })
  }
}
