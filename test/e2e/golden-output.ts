// CLI output proven against the real client: the same read commands through the python
// `openstack` client and through `trove`, against one lab, in every output format, compared
// byte for byte after normalising ids, times and the rate limiter's live counters.
// The lab's data carries what formatters disagree on: wide (CJK) characters, a long value
// that wraps and folds, null and empty values, nested dicts and lists, integers beyond 2^53
// and booleans. The python client runs in cliff's interactive mode (commands read from
// stdin by one process, about 1 s per process saved per command).
import t from 'tap'
import { spawn } from 'node:child_process'
import { runCli, runMain, startLab } from '../helpers/lab.js'
import { DEFAULT_RATE_LIMITS } from '../../src/server/http/rate-limit.js'
import { hasOpenstackClient } from '../helpers/openstack-session.js'

const hasOpenstack = hasOpenstackClient()

const MARK = '@@golden-mark@@'
const NAME = 'golden 数据库 ✓'
const LONG = 'A long description that goes on and on past eighty columns so that tables wrap it and PyYAML folds it: 長い説明 ✓ "quoted" \\back\\slash, done'
const LIST_FORMATS = ['table', 'value', 'csv', 'yaml', 'json']
const SHOW_FORMATS = ['table', 'value', 'shell', 'yaml', 'json']

/** Ids, times and the rate limiter's Remaining counts (each client spends its own requests). */
function normalise(text: string): string {
  return text
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '<id>')
    .replace(/[0-9a-f]{32}/g, '<id>')
    .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d)?/g, '<time>')
    .replace(/^(\|\s+\d+ \| [A-Z]+\s+\|)(\s+)(\d+)( \| [A-Z]+)/gm, (_m, a: string, sp: string, n: string, b: string) => `${a}${' '.repeat(sp.length + n.length - 1)}N${b}`)
    .replace(/^(\d+ [A-Z]+ )\d+( [A-Z]+)$/gm, '$1N$2')
    .replace(/^(\d+,"[A-Z]+",)\d+(,"[A-Z]+")$/gm, '$1N$2')
    .replace(/^(- )?( *)Remaining: \d+$/gm, '$1$2Remaining: N')
    .replace(/"Remaining": \d+/g, '"Remaining": N')
}

/**
 * An instance's volume_used: the guest reports it as its disk changes, between the two
 * clients' reads (in -f value it is the last field, as fields sort by name).
 */
function liveUsage(text: string): string {
  return text
    .replace(/^(\| volume_used\s+\| )([\d.e-]+)( *\|)$/m, (_m, h: string, n: string, tail: string) => `${h}${'N'.padEnd(n.length)}${tail}`)
    .replace(/"volume_used": [\d.e-]+/, '"volume_used": N')
    .replace(/^volume_used: [\d.e-]+$/m, 'volume_used: N')
    .replace(/^(\w*)volume_used="[\d.e-]+"$/m, '$1volume_used="N"')
    .replace(/\n[\d.e-]+\n$/, '\nN\n')
}

/** One python client process reading `commands` in interactive mode; each command's stdout, in order. */
async function openstackBatch(commands: string[], env: Record<string, string>, admin: boolean): Promise<string[]> {
  const child = spawn('openstack', [], { env: admin ? { ...env, OS_CLOUD: 'trove-lab-admin' } : env, stdio: ['pipe', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stdout.on('data', (b) => {
    out += b
  })
  child.stderr.on('data', (b) => {
    err += b
  })
  child.stdin.end(commands.map((c) => `${c}\n!echo ${MARK}\n`).join(''))
  const code = await new Promise<number | null>((r) => child.on('close', r))
  if (code !== 0 || err.trim()) throw new Error(`openstack exited ${code}: ${err}`)
  const parts = out.split(`${MARK}\n`)
  // cliff prints one newline when stdin ends.
  if (parts.pop() !== '\n') throw new Error(`openstack: unexpected tail after the last command: ${out.slice(-200)}`)
  if (parts.length !== commands.length) throw new Error(`openstack: ${parts.length} outputs for ${commands.length} commands`)
  return parts
}

t.test('trove and openstack print the same bytes for every read command and format', { skip: hasOpenstack ? false : 'the openstack client is not installed' }, async (t) => {
  // GETs raised from 200 a minute: both clients read about a hundred times within the minute.
  const rateLimits = [...DEFAULT_RATE_LIMITS.filter((r) => r.verb !== 'GET'), { verb: 'GET', uri: '*', regex: '.*', value: 100000, unit: 'MINUTE' as const }]
  const lab = await startLab(t, { rateLimits })
  const env = { ...lab.env, HOME: lab.dataDir }
  const trove = async (args: string[], admin = false) => {
    const r = await runMain(admin ? ['--os-cloud', 'trove-lab-admin', ...args] : args, env)
    if (r.code !== 0) throw new Error(`trove ${args.join(' ')}: ${r.stderr}`)
    return r.stdout
  }
  const json = async (args: string[]) => JSON.parse(await trove([...args, '-f', 'json']))

  const [instance, config] = await Promise.all([
    // No archiving (retention 0): its state and latest restorable time move between our call and openstack's
    // (a golden run saw 'streaming' then 'lagging'); the archive dict is still shown, as {'state': 'off', ...}.
    json([
      'instance',
      'create',
      NAME,
      '--flavor',
      'm1.tiny',
      '--size',
      '1',
      '--datastore',
      'mariadb',
      '--databases',
      'd1',
      '--users',
      'u1:Pw-golden-1',
      '--backup-retention',
      '0',
      '--wait',
      '--timeout',
      '240',
    ]),
    // 2^53 + 2: beyond what a double holds exactly next to 2^53 + 1, and still exact as an even double.
    json(['configuration', 'create', 'cfg 配置', '{"sort_buffer_size": 9007199254740994, "max_connections": 100, "autocommit": 1}', '--datastore', 'mariadb', '--datastore-version', '10.11']),
  ])
  t.equal(instance.status, 'ACTIVE', 'the instance is ACTIVE')
  const backup = await json(['backup', 'create', 'bk 备份', '--instance', instance.id, '--description', LONG, '--wait', '--timeout', '240'])
  t.equal(backup.status, 'COMPLETED', 'the backup is COMPLETED')
  const version = (await json(['datastore', 'version', 'list', 'mariadb']))[0].ID as string
  // The guest reports its volume usage after ACTIVE; both clients must read the same fields.
  const deadline = Date.now() + 120_000
  while (!('volume_used' in (await json(['instance', 'show', instance.id]))) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250))

  // [our words, list or show, openstack's prefix]
  const reads: Array<[string[], 'list' | 'show', string]> = [
    [['instance', 'list'], 'list', 'database'],
    [['instance', 'show', instance.id], 'show', 'database'],
    [['flavor', 'list'], 'list', 'database'],
    [['flavor', 'show', '1'], 'show', 'database'],
    [['datastore', 'list'], 'list', ''],
    [['datastore', 'show', 'mariadb'], 'show', ''],
    [['datastore', 'version', 'list', 'mariadb'], 'list', ''],
    [['datastore', 'version', 'show', version], 'show', ''],
    [['backup', 'list'], 'list', 'database'],
    [['backup', 'show', backup.id], 'show', 'database'],
    [['configuration', 'list'], 'list', 'database'],
    [['configuration', 'show', config.id], 'show', 'database'],
    [['configuration', 'parameter', 'list', '10.11', '--datastore', 'mariadb'], 'list', 'database'],
    [['configuration', 'parameter', 'show', '10.11', 'sort_buffer_size', '--datastore', 'mariadb'], 'show', 'database'],
    [['configuration', 'parameter', 'show', '10.11', 'autocommit', '--datastore', 'mariadb'], 'show', 'database'],
    [['db', 'list', instance.id], 'list', 'database'],
    [['user', 'list', instance.id], 'list', 'database'],
    [['user', 'show', instance.id, 'u1'], 'show', 'database'],
    [['limit', 'list'], 'list', 'database'],
  ]
  const runs: string[][] = []
  for (const [words, kind] of reads) for (const f of kind === 'list' ? LIST_FORMATS : SHOW_FORMATS) runs.push([...words, '-f', f])
  // The option variants: wrapping to a width, unindented JSON, quoting, column choice and sorting.
  runs.push(
    ['backup', 'show', backup.id, '--max-width', '60'],
    ['instance', 'list', '--max-width', '70'],
    ['instance', 'show', instance.id, '-f', 'json', '--noindent'],
    ['configuration', 'parameter', 'list', '10.11', '--datastore', 'mariadb', '-f', 'csv', '--quote', 'all'],
    ['configuration', 'parameter', 'list', '10.11', '--datastore', 'mariadb', '-f', 'csv', '--quote', 'minimal'],
    ['flavor', 'list', '-c', 'Name', '-c', 'RAM', '--sort-column', 'RAM', '--sort-descending'],
    ['instance', 'show', instance.id, '-f', 'shell', '--prefix', 'os_', '-c', 'name', '-c', 'addresses'],
  )
  const adminRuns = LIST_FORMATS.map((f) => ['quota', 'show', 'demo', '-f', f])
  const prefixOf = new Map(reads.map(([w, , p]) => [w[0], p]))
  const osCommand = (args: string[]) => [prefixOf.get(args[0]) ?? 'database', ...args].filter(Boolean).join(' ')
  const quote = (w: string) => (/^[\w.=,:/-]+$/.test(w) ? w : `'${w}'`)
  const osLine = (args: string[]) => osCommand(args.map(quote))

  const started = Date.now()
  const [theirs, theirsAdmin, ours, oursAdmin] = await Promise.all([
    openstackBatch(runs.map(osLine), env, false),
    openstackBatch(adminRuns.map(osLine), env, true),
    Promise.all(runs.map((a) => trove(a))),
    Promise.all(adminRuns.map((a) => trove(a, true))),
  ])
  t.comment(`${runs.length + adminRuns.length} commands each way in ${Date.now() - started} ms`)

  const compare = (args: string[], mine: string, upstream: string) => {
    let a = normalise(mine)
    let b = normalise(upstream)
    if (args[0] === 'instance' && args[1] === 'show') [a, b] = [liveUsage(a), liveUsage(b)]
    if (args[0] === 'backup' && args[1] === 'show' && (!args.includes('-f') || args.includes('table'))) {
      // The one deliberate difference: the table shows the size as "17 MiB (0.0163 GB)" (test/cli/backup-size.ts).
      a = a.replace(
        /^(\| size\s+\| )(\d+(?:\.\d+)? [KMGT]?i?B \((\S+) GB\))(\s*\|)$/m,
        (_m, h: string, shown: string, gb: string, tail: string) => `${h}${gb}${' '.repeat(shown.length - gb.length)}${tail}`,
      )
    }
    t.equal(a, b, `trove ${args.join(' ')}`)
  }
  for (const [i, args] of runs.entries()) compare(args, ours[i] as string, theirs[i] as string)
  for (const [i, args] of adminRuns.entries()) compare(args, oursAdmin[i] as string, theirsAdmin[i] as string)

  // What the data was chosen for is really there (so a lab change cannot hollow the test out).
  const all = theirs.join('')
  t.match(all, /golden \\u6570\\u636e\\u5e93 \\u2713/, 'json escapes the CJK name')
  t.match(all, /\| golden 数据库 ✓ \|/, 'the table holds the CJK name (two cells per character)')
  t.match(all, /18446744073709551615/, 'an integer beyond 2^53 (a parameter maximum)')
  t.match(all, /9007199254740994/, 'a configuration value beyond 2^53')
  t.match(all, /"restart_required": false/, 'booleans')
  t.match(all, /"parent_id": null/, 'nulls')
  t.match(all, /"addresses": \[\n\s+\{/, 'nested lists of dicts')
  t.match(all, /"volume_used": /, "the guest's volume usage")

  // The real bin/trove process prints the same as main() in this process.
  const viaProcess = await runCli(['instance', 'list', '-f', 'yaml'], env)
  t.equal(viaProcess.stdout, ours[runs.findIndex((a) => a.join(' ') === 'instance list -f yaml')], 'bin/trove prints what main() prints')
})
