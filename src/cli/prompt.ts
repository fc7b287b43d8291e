import type { CommandContext, IO } from './spec.js'
import { CliError } from './errors.js'
import { EXIT } from './spec.js'

/**
 * Prompts behind a gate (CONVENTIONS 6): only when stdin and stdout are both
 * terminals. Off a terminal nothing is asked: destructive commands go ahead as
 * the openstack client's do (scripts keep working), and a missing value is the
 * command's usual error.
 */
export function canPrompt(io: IO): boolean {
  return io.stdinIsTTY && io.stdoutIsTTY
}

/** One question, one answer line; null when the user hit Ctrl-C or closed stdin. */
export async function ask(io: IO, question: string): Promise<string | null> {
  if (io.ask) return io.ask(question)
  const { createInterface } = await import('node:readline')
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true })
  return new Promise((resolve) => {
    let answered = false
    rl.on('SIGINT', () => {
      rl.close()
    })
    rl.on('close', () => {
      if (!answered) {
        process.stderr.write('\n')
        resolve(null)
      }
    })
    rl.question(question, (a) => {
      answered = true
      rl.close()
      resolve(a)
    })
  })
}

/** Exit 3: the user said no or pressed Ctrl-C. */
export const cancelled = () => new CliError('cancelled', EXIT.cancelled)

/**
 * Asks "<question> [y/N]" unless `--yes`/`-y` was given or there is no terminal.
 * Anything but y/yes cancels (exit 3).
 */
export async function confirm(ctx: CommandContext, question: string, opts: Record<string, unknown>): Promise<void> {
  if (opts.yes || !canPrompt(ctx.io)) return
  const a = await ask(ctx.io, `${question} [y/N] `)
  if (a === null || !/^(y|yes)$/i.test(a.trim())) throw cancelled()
}

/**
 * A numbered picker: prints the choices on stderr and reads a number (or the
 * exact label). Returns the chosen value; Ctrl-C or an empty answer cancels.
 */
export async function pick<T>(io: IO, what: string, choices: Array<{ label: string; value: T }>): Promise<T> {
  if (choices.length === 0) throw new CliError(`no ${what} to choose from`)
  if (choices.length === 1) {
    io.stderr(`${what}: ${choices[0].label}\n`)
    return choices[0].value
  }
  io.stderr(`${what}:\n${choices.map((c, i) => `  ${String(i + 1).padStart(2)}) ${c.label}`).join('\n')}\n`)
  for (let tries = 0; tries < 3; tries++) {
    const a = await ask(io, `Choose ${what} [1-${choices.length}]: `)
    if (a === null || a.trim() === '') throw cancelled()
    const n = Number(a.trim())
    if (Number.isInteger(n) && n >= 1 && n <= choices.length) return choices[n - 1].value
    const byLabel = choices.find((c) => c.label === a.trim() || c.label.split(' ')[0] === a.trim())
    if (byLabel) return byLabel.value
    io.stderr(`'${a.trim()}' is not one of 1-${choices.length}\n`)
  }
  throw cancelled()
}

/**
 * `instance create` on a terminal without --flavor / --datastore / --datastore-version:
 * pick them from the API's lists. Off a terminal this does nothing.
 */
export async function promptMissingCreateValues(ctx: CommandContext, opts: Record<string, unknown>): Promise<void> {
  if (!canPrompt(ctx.io) || opts.replicaOf) return
  if (opts.flavor && opts.datastore && opts.datastoreVersion) return
  const client = await ctx.client()
  if (!opts.datastore) {
    const list = await client.datastores.list()
    opts.datastore = await pick(
      ctx.io,
      'datastore',
      list.map((d) => ({ label: d.name, value: d.name })),
    )
  }
  if (!opts.datastoreVersion) {
    const versions = (await client.datastoreVersions.list(String(opts.datastore))).filter((v) => (v as { active?: unknown }).active !== false)
    opts.datastoreVersion = await pick(
      ctx.io,
      'datastore version',
      versions.map((v) => ({ label: v.name, value: v.name })),
    )
  }
  if (!opts.flavor) {
    const flavors = await client.flavors.list()
    opts.flavor = await pick(
      ctx.io,
      'flavor',
      flavors.map((f) => ({ label: `${f.name} (${f.ram} MB RAM, ${f.vcpus} vCPU)`, value: String(f.id ?? f.str_id) })),
    )
  }
}

/** The `-y, --yes` option of destructive commands. */
export const YES_OPTION = { flags: '-y, --yes', description: 'Do not ask for confirmation (a terminal asks before deleting)' }
