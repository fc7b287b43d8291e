import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { COMMANDS } from './commands/index.js'
import { ENV_VARS } from './config/index.js'
import { LEGACY_ALIASES, LEGACY_ONLY } from './legacy.js'
import type { CommandSpec, OptionSpec } from './spec.js'
import { LIST_FORMATS, SHOW_FORMATS } from './output/index.js'

/**
 * Man pages generated from the command specs (CONVENTIONS 14): trove.1 with the
 * overview, ENVIRONMENT, FILES and EXIT STATUS, and one page per command. A test
 * regenerates them and fails when man/ is stale.
 */
const esc = (s: string) => s.replace(/\\/g, '\\e').replace(/-/g, '\\-').replace(/^\./gm, '\\&.').replace(/^'/gm, "\\&'")
const page = (cmd: CommandSpec) => `trove-${cmd.path.join('-')}`
const DATE = '2026-11'

function th(name: string, section = '1'): string {
  return `.TH ${name.toUpperCase()} ${section} "${DATE}" "trove" "trove manual"\n`
}

function optionItem(flags: string, description: string): string {
  return `.TP\n.B ${esc(flags)}\n${esc(description)}\n`
}

function usage(cmd: CommandSpec): string {
  const args = (cmd.args ?? []).map((a) => (a.optional ? `[${a.name}${a.variadic ? '...' : ''}]` : `${a.name}${a.variadic ? ' [...]' : ''}`))
  return `trove ${cmd.path.join(' ')} [options]${args.length ? ' ' + args.join(' ') : ''}`
}

const OUTPUT_OPTIONS: Record<'list' | 'show', Array<[string, string]>> = {
  list: [
    ['-f, --format FORMAT', `Output format: ${LIST_FORMATS.join(', ')} (default table).`],
    ['-c, --column COLUMN', 'Include only this column; repeat for more. The command keeps its own column order.'],
    ['--sort-column COLUMN', 'Sort by this column; repeat for more.'],
    ['--sort-ascending, --sort-descending', 'Sort direction.'],
    ['--quote MODE', 'csv quoting: all, minimal, none, nonnumeric (default).'],
    ['--noindent', 'One-line JSON.'],
    ['--max-width N, --fit-width, --print-empty', 'Table width limits; print an empty table instead of nothing.'],
  ],
  show: [
    ['-f, --format FORMAT', `Output format: ${SHOW_FORMATS.join(', ')} (default table). Fields are sorted by name.`],
    ['-c, --column FIELD', 'Include only this field; repeat for more.'],
    ['--prefix PREFIX', 'Variable name prefix for the shell format.'],
    ['--noindent', 'One-line JSON.'],
    ['--max-width N, --fit-width, --print-empty', 'Table width limits.'],
  ],
}

function commandPage(cmd: CommandSpec): string {
  let out = th(page(cmd))
  out += `.SH NAME\n${page(cmd)} \\- ${esc(cmd.summary)}\n`
  out += `.SH SYNOPSIS\n.B ${esc(usage(cmd))}\n`
  out += `.SH DESCRIPTION\n${esc(cmd.summary)}.\n${cmd.description ? `.PP\n${esc(cmd.description)}\n` : ''}`
  if (cmd.args?.length) out += `.SH ARGUMENTS\n${cmd.args.map((a) => optionItem(a.name, a.description)).join('')}`
  const opts: OptionSpec[] = (cmd.options ?? []).filter((o) => !o.hidden)
  if (opts.length || cmd.wait) {
    out += '.SH OPTIONS\n' + opts.map((o) => optionItem(o.flags, o.description + (o.repeatable ? ' May be repeated.' : ''))).join('')
    if (cmd.wait) {
      out += optionItem('--wait', 'Wait until the operation has finished; shows progress on a terminal, status lines otherwise. Fails (exit 1) with the fault message if the instance ends in ERROR.')
      out += optionItem('--timeout SECONDS', 'With --wait: give up after this long (exit 8). Default 1800.')
    }
  }
  if (cmd.output !== 'none') out += '.SH OUTPUT OPTIONS\n' + OUTPUT_OPTIONS[cmd.output].map(([f, d]) => optionItem(f, d)).join('')
  if (cmd.examples?.length) out += `.SH EXAMPLES\n${cmd.examples.map((e) => `.PP\n.nf\n${esc(e)}\n.fi\n`).join('')}`
  out += `.SH SEE ALSO\n.BR trove (1)\n`
  return out
}

function mainPage(): string {
  let out = th('trove')
  out += '.SH NAME\ntrove \\- Database-as-a-Service: the OpenStack Trove API, a lab server, and a client\n'
  out +=
    '.SH SYNOPSIS\n.B trove\n[global options]\n.I noun verb\n[options] [arguments]\n.br\n.B trove server\n[\\-\\-data\\-dir DIR] [\\-\\-host ADDRESS] [\\-\\-port PORT]\n.br\n.B trove server\nstart | status | stop | logs [\\-f] | reset [\\-\\-yes]\n.br\n.B trove agent \\-\\-config FILE\n'
  out += '.SH DESCRIPTION\n'
  out +=
    'trove creates and deletes real databases (MariaDB, PostgreSQL, Redis) through the OpenStack Trove v1.0 API, against a local lab (\\fBtrove server\\fR) or any OpenStack Trove cloud. Commands are named like \\fBopenstack database ...\\fR without that prefix, with the same options, columns and output formats.\n'
  out +=
    '.PP\n\\fBtrove server\\fR runs the lab: the Trove API at http://HOST:PORT/v1.0/{project_id}, a Keystone v3 subset at http://HOST:PORT/identity/v3, an embedded MQTT broker (TLS only, with a CA made for the lab in DIR/tls), a task engine, and state in DIR/trove.db. On first start it creates the projects admin and demo, the CA, and writes DIR/clouds.yaml. Each instance gets its own loopback address, its engine on the standard port, a directory under DIR/instances as its volume, and a detached \\fBtrove agent\\fR that supervises it. Instances keep running when the server stops.\n'
  out += '.SH COMMANDS\n'
  for (const c of COMMANDS) out += `.TP\n.B trove ${esc(c.path.join(' '))}\n${esc(c.summary)}. See \\fB${page(c)}\\fR(1).\n`
  out += optionItem(
    'trove top [--interval SECONDS]',
    "A live view of the project's instances: status, datastore, address, flavor, volume used, last heartbeat, running tasks and backups; refreshed every SECONDS (default 5). Keys: / filter, up/down select, Enter details, Esc back, q quit. When stdout or stdin is not a terminal it prints one snapshot table and exits.",
  )
  out += optionItem('trove completion bash|zsh', 'Print a completion script for the shell (commands, legacy names and options): eval "$(trove completion bash)".')
  out += optionItem(
    'trove server',
    "Run the lab server in the foreground until SIGTERM or SIGINT. One server per data dir (a second one is refused); PORT defaults to TROVE_PORT, else the last run's port, else 18779, else the next free port (printed); an explicit PORT that is taken is refused. \\-\\-isolation sandbox|none (else TROVE_ISOLATION, else sandbox) is what new instances get: sandbox, a runc sandbox, uid, volume and network namespace each (as root; a host without runc, nftables, the CNI plugins or loop devices is refused, naming what is missing; docs/isolation.md); none, every engine on a loopback address as one user, not isolated.",
  )
  out += optionItem('trove server start', 'Start the same server in the background (output in DIR/server.log) and print where it listens, once it does.')
  out += optionItem('trove server status', 'Whether the lab server runs (pid, URL, data dir); exit 1 when it does not.')
  out += optionItem('trove server stop', 'Stop the lab server; instances keep running and the next start picks them up.')
  out += optionItem('trove server logs [-n N] [-f]', 'Print DIR/server.log (the last N lines; -f keeps following it).')
  out += optionItem(
    'trove server reset [--yes]',
    'Tear the lab down: stop its server, kill every agent and engine of its instances, remove their cgroups and address claims, and the whole DIR. Off a terminal it needs --yes.',
  )
  out += optionItem('trove agent --config FILE', 'Run a guest agent; the server starts one per instance.')
  out += '.SH LEGACY COMMAND NAMES\n'
  out +=
    "The command names of python\\-troveclient's legacy \\fBtrove\\fR shell are accepted as aliases, with their legacy arguments (e.g. \\fBtrove create NAME FLAVOR\\fR, \\fBtrove backup\\-create INSTANCE NAME\\fR) and both option spellings (\\-\\-volume_type and \\-\\-volume\\-type); output is that of the new command. \\fBtrove NAME \\-\\-help\\fR shows the legacy usage.\n"
  for (const a of LEGACY_ALIASES) out += `.TP\n.B trove ${esc(a.name)}\n\\fBtrove ${esc(a.target.join(' '))}\\fR\n`
  out +=
    '.PP\nLegacy\\-only commands: ' +
    esc(LEGACY_ONLY.map((c) => c.path[0]).join(', ')) +
    '. volume\\-type\\-list and volume\\-type\\-show call the API; the metadata and security group commands fail with one line (exit 1): the Trove v1.0 API of the lab has no such resources. The schedule and execution commands run the backup schedules of the lab (\\fBtrove backup schedule\\fR, \\fBtrove backup execution\\fR).\n'
  out += '.SH GLOBAL OPTIONS\n'
  for (const v of ENV_VARS) if (v.flag && (v.flag.startsWith('--os-') || v.flag === '--insecure')) out += optionItem(v.flag, `${v.description} Overrides ${v.name}.`)
  out += optionItem('--debug', 'Print each request and response (secrets redacted) and stack traces of errors.')
  out += optionItem('--version, -h, --help', 'Version; help of trove or of any command.')
  out += '.SH ENVIRONMENT\n'
  for (const v of ENV_VARS) out += optionItem(v.name, v.description)
  out += optionItem('TROVE_NO_TOKEN_CACHE', '1 to not keep Keystone tokens between runs.')
  out += optionItem('XDG_CACHE_HOME', 'Where the token cache lives (default ~/.cache).')
  out += '.SH FILES\n'
  out += optionItem(
    '~/.cache/trove/tokens/KEY.json',
    'Keystone tokens kept between runs (0600, directory 0700), one per auth URL, user, project and secret; reused until five minutes before expiry, dropped when the API answers 401.',
  )
  out += optionItem(
    'clouds.yaml',
    'Cloud settings, read from OS_CLIENT_CONFIG_FILE, ./clouds.yaml, ~/.config/openstack/clouds.yaml, /etc/openstack/clouds.yaml (secure.yaml beside it is merged over it).',
  )
  out += optionItem('DIR/clouds.yaml', 'Written by trove server (mode 0600): clouds trove-lab (demo) and trove-lab-admin (admin) with their passwords.')
  out += optionItem('DIR/trove.db', 'The lab server state (SQLite, WAL).')
  out += optionItem('DIR/server.pid, DIR/server.json, DIR/server.log', 'The running server (its lock), where it listens, and the log of a background server.')
  out += optionItem(
    'DIR/instances/ID/',
    'An instance: agent.json (0600), agent.log, and the engine directories data, conf, run, log, tmp and, for MariaDB, files (secure_file_priv) (owned by troveguest, 0700).',
  )
  out += optionItem('/run/trove/addresses/', 'Machine-wide claims of the loopback addresses given to instances.')
  out +=
    "DIR is \\-\\-data\\-dir, else TROVE_DATA_DIR, else /var/lib/trove\\-lab for root, else ~/.local/share/trove\\-lab (not upstream Trove's /var/lib/trove and port 8779, so a lab and a real Trove can share a host).\n"
  out += '.SH EXIT STATUS\n'
  for (const [code, what] of [
    ['0', 'Success.'],
    ['1', 'Failure: the server refused the request, a name could not be resolved, the server could not be reached, a wait ended in ERROR.'],
    ['2', 'Usage error: unknown command or option, a missing argument, a bad option value.'],
    ['3', 'Cancelled (Ctrl-C, or a declined prompt).'],
    ['4', 'Authentication failed (HTTP 401 from Keystone: wrong password, expired or revoked token), or the cloud settings are missing or wrong (no such cloud, a bad clouds.yaml).'],
    ['8', 'A --wait timed out.'],
  ])
    out += optionItem(code, what)
  out +=
    '.PP\nErrors are one line on stderr naming the option or value, sometimes followed by a line starting with Try: (what to check). Stack traces are printed only with \\-\\-debug, with passwords and tokens redacted. Prompts (confirmation of deletes, pickers of \\fBinstance create\\fR) appear only when stdin and stdout are terminals; \\-y/\\-\\-yes skips the confirmation.\n'
  out +=
    '.SH EXAMPLES\n.nf\ntrove server start\nexport OS_CLIENT_CONFIG_FILE=/var/lib/trove\\-lab/clouds.yaml OS_CLOUD=trove\\-lab\ntrove instance create db1 \\-\\-flavor m1.tiny \\-\\-size 1 \\-\\-datastore postgresql \\-\\-wait\ntrove instance list \\-f json\ntrove instance delete db1 \\-\\-wait\ntrove server reset \\-\\-yes\n.fi\n'
  out += `.SH SEE ALSO\n${COMMANDS.map((c) => `.BR ${page(c)} (1)`).join(',\n')},\n.BR openstack (1)\n`
  return out
}

/** Every page: file name -> troff text. */
export function manPages(): Record<string, string> {
  const pages: Record<string, string> = { 'trove.1': mainPage() }
  for (const c of COMMANDS) pages[`${page(c)}.1`] = commandPage(c)
  return pages
}

/** Writes the pages into `dir`, removing pages of commands that no longer exist. */
export function writeManPages(dir: string): void {
  mkdirSync(dir, { recursive: true })
  const pages = manPages()
  for (const f of readdirSync(dir)) if (f.endsWith('.1') && !(f in pages)) rmSync(join(dir, f))
  for (const [f, text] of Object.entries(pages)) writeFileSync(join(dir, f), text)
}
