import type { Command } from 'commander'
import type { CommandContext } from './spec.js'

/** The names a completion can offer, and how to list them (one request each). */
const NAME_LISTS: Record<string, (ctx: CommandContext) => Promise<string[]>> = {
  instance: async (ctx) => {
    const out: string[] = []
    for await (const i of (await ctx.client()).instances.list()) out.push(i.name)
    return out
  },
  backup: async (ctx) => {
    const out: string[] = []
    for await (const b of (await ctx.client()).backups.list()) out.push(b.name)
    return out
  },
  flavor: async (ctx) => (await (await ctx.client()).flavors.list()).map((f) => f.name),
  datastore: async (ctx) => (await (await ctx.client()).datastores.list()).map((d) => d.name),
}

/** How long a completion may take to list names: past it, it offers none (TROVE_COMPLETION_MS overrides it, for slow clouds). */
export const COMPLETION_NAMES_MS = 2000

/** The cap in force: TROVE_COMPLETION_MS when it is a positive number of milliseconds. */
export function completionCapMs(env: Record<string, string | undefined>): number {
  const ms = Number(env.TROVE_COMPLETION_MS)
  return Number.isFinite(ms) && ms > 0 ? ms : COMPLETION_NAMES_MS
}

/**
 * `trove completion names KIND`: the names of the cloud the user is configured for, for the
 * completion script. Never fails and never waits long: any error or a slow cloud gives none
 * (a completion must not print errors into the command line being typed).
 */
export async function completionNames(makeContext: () => CommandContext, kind: string, capMs = COMPLETION_NAMES_MS): Promise<string[]> {
  const list = NAME_LISTS[kind]
  if (!list) return []
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<string[]>((done) => {
    timer = setTimeout(() => done([]), capMs)
  })
  const ctx = makeContext()
  try {
    const names = await Promise.race([list(ctx).catch(() => []), late])
    return [...new Set(names.filter((n) => n && !/\s/.test(n)))].sort()
  } finally {
    clearTimeout(timer)
    // A request still waiting must not keep the process alive: its sockets go.
    await ctx
      .client()
      .then((c) => c.close())
      .catch(() => undefined)
  }
}

/** What a command's positional argument or option value names, by its name (`instance`, `--flavor`, ...). */
const ARG_KINDS: Record<string, string> = { instance: 'instance', source_instance: 'instance', replica: 'instance', backup: 'backup', flavor: 'flavor', datastore: 'datastore' }
const OPTION_KINDS: Record<string, string> = {
  '--instance': 'instance',
  '--replica-of': 'instance',
  '--backup': 'backup',
  '--parent': 'backup',
  '--flavor': 'flavor',
  '--datastore': 'datastore',
}

/** Every command path of the program (including hidden legacy names) with its subcommands and options. */
interface Node {
  subs: string[]
  opts: string[]
  /** The kind of names each positional argument takes ('' for none). */
  args: string[]
  /** Options whose value is a name, with its kind. */
  valueOpts: Array<[string, string]>
  /** Options that take a value (the next word is not a positional argument). */
  valued: string[]
}

function walk(cmd: Command, path: string[], out: Map<string, Node>): void {
  const subs = cmd.commands.map((c) => c.name())
  const opts = cmd.options.flatMap((o) => [o.long, o.short]).filter((f): f is string => Boolean(f))
  opts.push('--help')
  const args = cmd.registeredArguments.map((a) => ARG_KINDS[a.name()] ?? '')
  const valueOpts = cmd.options.filter((o) => o.long && OPTION_KINDS[o.long] && (o.required || o.optional)).map((o): [string, string] => [o.long!, OPTION_KINDS[o.long!]!])
  const valued = cmd.options
    .filter((o) => o.required || o.optional)
    .flatMap((o) => [o.long, o.short])
    .filter((f): f is string => Boolean(f))
  out.set(path.join(' '), { subs, opts: [...new Set(opts)], args, valueOpts, valued })
  for (const c of cmd.commands) walk(c, [...path, c.name()], out)
}

const q = (s: string) => `'${s.replace(/'/g, "'\\''")}'`

/**
 * A bash completion script generated from the registered commands: the words
 * typed so far select a command path; completing a word offers that path's
 * subcommands, or its options when the word starts with '-', or, for an argument
 * or option value that names an instance, flavor, datastore or backup, those
 * names (`trove completion names KIND`). zsh uses the same script through bashcompinit.
 */
export function completionScript(program: Command, shell: 'bash' | 'zsh'): string {
  const tree = new Map<string, Node>()
  walk(program, [], tree)
  const subsCase = [...tree]
    .filter(([, v]) => v.subs.length)
    .map(([k, v]) => `    ${q(k)}) echo ${q(v.subs.join(' '))} ;;`)
    .join('\n')
  const optsCase = [...tree].map(([k, v]) => `    ${q(k)}) echo ${q(v.opts.join(' '))} ;;`).join('\n')
  // "PATH|N" -> the kind of the Nth positional argument; "PATH|--opt" -> the kind of that option's value.
  const kindsCase = [...tree]
    .flatMap(([k, v]) => [...v.args.map((kind, i): [string, string] => [`${k}|${i}`, kind]), ...v.valueOpts.map(([o, kind]): [string, string] => [`${k}|${o}`, kind])])
    .filter(([, kind]) => kind)
    .map(([key, kind]) => `    ${q(key)}) echo ${kind} ;;`)
    .join('\n')
  const valuedCase = [...tree]
    .filter(([, v]) => v.valued.length)
    .map(([k, v]) => `    ${q(k)}) echo ${q(v.valued.join(' '))} ;;`)
    .join('\n')
  const bash = `# trove completion for ${shell}; generated by 'trove completion ${shell}'
_trove_subcommands() {
  case "$1" in
${subsCase}
  esac
}
_trove_options() {
  case "$1" in
${optsCase}
  esac
}
_trove_kind() {
  case "$1" in
${kindsCase}
  esac
}
_trove_valued() {
  case "$1" in
${valuedCase}
  esac
}
# Names from the cloud the user is configured for: silent on any error, and never longer than
# a few seconds (the CLI gives up after ${COMPLETION_NAMES_MS / 1000} s or TROVE_COMPLETION_MS, timeout(1) makes sure).
_trove_names() {
  timeout "$(( \${TROVE_COMPLETION_MS:-${COMPLETION_NAMES_MS}} / 1000 + 2 ))" trove completion names "$1" 2>/dev/null
}
_trove() {
  local cur prev path w i subs n kind
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev="\${COMP_WORDS[COMP_CWORD-1]}"
  path=""
  n=0
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    case "$w" in -*) continue ;; esac
    case " $(_trove_valued "$path") " in *" \${COMP_WORDS[i-1]} "*) continue ;; esac
    subs=" $(_trove_subcommands "$path") "
    case "$subs" in
      *" $w "*) path="\${path:+$path }$w"; n=0 ;;
      *) n=$((n + 1)) ;;
    esac
  done
  kind=""
  case "$prev" in --*) kind="$(_trove_kind "$path|$prev")" ;; esac
  [ -z "$kind" ] && case "$cur" in -*) ;; *) [ -z "$(_trove_subcommands "$path")" ] && kind="$(_trove_kind "$path|$n")" ;; esac
  if [ -n "$kind" ]; then
    COMPREPLY=( $(compgen -W "$(_trove_names "$kind")" -- "$cur") )
    return 0
  fi
  case "$cur" in
    -*) COMPREPLY=( $(compgen -W "$(_trove_options "$path")" -- "$cur") ) ;;
    *) COMPREPLY=( $(compgen -W "$(_trove_subcommands "$path")" -- "$cur") ) ;;
  esac
  return 0
}
complete -F _trove trove
`
  if (shell === 'bash') return bash
  return `#compdef trove\nautoload -U +X bashcompinit && bashcompinit\n${bash}`
}
