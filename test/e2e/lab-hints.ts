// What the lab says about itself, through the real CLI against real lab servers: asking for
// `mysql` (Debian has no MySQL server) points at MariaDB; `instance show` says which flavor
// limits this host cannot apply (`lab:limits` in the API, `limits` in the CLI), as the banner does.
import t from 'tap'
import { join } from 'node:path'
import { killEverythingUnder, runCli, startServerProcess, tempDir } from '../helpers/lab.js'

t.test('a lab with cgroups turned off: mysql hint, and instance show says the limits are not enforced', async (t) => {
  const dir = tempDir(t, 'tlh')
  const dataDir = join(dir, 'lab')
  // TROVE_CGROUPS=0 is the `none` compute's switch (a sandbox's limits are runc's): explicit whatever TROVE_ISOLATION says.
  const server = await startServerProcess(t, dataDir, ['--isolation', 'none'], { TROVE_CGROUPS: '0' })
  t.teardown(() => killEverythingUnder(dataDir))
  t.match(server.output(), /limits +not enforced \(cgroups turned off\)/, 'the banner says so')
  const cli = (...args: string[]) => runCli(args, server.env)

  const mysql = await cli('instance', 'create', 'm', '--flavor', 'm1.tiny', '--size', '1', '--datastore', 'mysql')
  t.equal(mysql.code, 1)
  t.equal(
    mysql.stderr.replace(/ \(Request-ID: req-[0-9a-f-]+\)\n$/, '\n'),
    "Datastore 'mysql' cannot be found. This lab host has no MySQL server (Debian 12 has none; its mysqld is MariaDB): use the 'mariadb' datastore (MySQL clients and drivers work with it), or install MySQL from Oracle's APT repository and restart 'trove server'. (HTTP 404)\n",
    'one line: no mysql here, use mariadb (no install command that does not exist)',
  )
  const versions = await cli('datastore', 'version', 'list', 'mysql')
  t.match(versions.stderr, /use the 'mariadb' datastore/, 'the same hint wherever a datastore is looked up')
  t.notMatch(mysql.stderr + versions.stderr, /scripts\/setup\.sh|apt-get install/, 'setup installs no MySQL, so neither is suggested')
  const list = await cli('datastore', 'list', '-f', 'value', '-c', 'Name')
  t.notMatch(list.stdout, /^mysql$/m, 'and indeed no mysql datastore is offered')

  const made = await cli('instance', 'create', 'lim', '--flavor', 'm1.tiny', '--size', '1', '--datastore', 'redis', '-f', 'json')
  t.equal(made.code, 0, made.stderr)
  const shown = await cli('instance', 'show', 'lim', '-f', 'json')
  t.equal(JSON.parse(shown.stdout).limits, 'not enforced (cgroups turned off)', 'instance show -f json: limits')
  const table = await cli('instance', 'show', 'lim')
  t.match(table.stdout, /\| limits +\| not enforced \(cgroups turned off\) +\|/, 'instance show: a limits row')
})

t.test('a lab with cgroups: instance show has no limits row where every limit applies', async (t) => {
  const dir = tempDir(t, 'tlh')
  const dataDir = join(dir, 'lab')
  const server = await startServerProcess(t, dataDir)
  t.teardown(() => killEverythingUnder(dataDir))
  const banner = /limits +(.*)/.exec(server.output())?.[1]?.trim() ?? ''
  const cli = (...args: string[]) => runCli(args, server.env)
  const made = await cli('instance', 'create', 'lim', '--flavor', 'm1.tiny', '--size', '1', '--datastore', 'redis', '-f', 'json')
  t.equal(made.code, 0, made.stderr)
  const shown = JSON.parse((await cli('instance', 'show', 'lim', '-f', 'json')).stdout) as { limits?: string }
  if (banner.includes('not enforced')) t.equal(shown.limits, banner, 'this host cannot apply some: said as the banner says it')
  else t.equal(shown.limits, undefined, `all applied here (${banner}): no limits field`)

  // trove top (off a terminal: one table) names the flavor and the whole datastore version.
  const version = JSON.parse(made.stdout).datastore_version as string
  const top = await cli('top')
  t.equal(top.code, 0, top.stderr)
  const header = top.stdout
    .split('\n')
    .find((l) => l.startsWith('| Name'))
    ?.split('|')
    .map((c) => c.trim())
  const row = top.stdout
    .split('\n')
    .find((l) => l.startsWith('| lim '))
    ?.split('|')
    .map((c) => c.trim())
  t.equal(row?.[header?.indexOf('Flavor') ?? -1], 'm1.tiny', 'top: the flavor by name')
  t.equal(row?.[header?.indexOf('Datastore') ?? -1], `redis ${version}`, 'top: the datastore and its version, whole')
})
