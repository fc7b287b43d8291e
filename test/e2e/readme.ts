import t from 'tap'
import { execFileSync, spawn } from 'node:child_process'
import { copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { CLAIM_DIR } from '../../src/server/compute/addresses.js'
import { tableName } from '../../src/server/compute/firewall.js'
import { bridgeName } from '../../src/server/compute/network.js'
import { labIdOf } from '../../src/server/compute/sandbox-host.js'
import { UID_CLAIM_DIR } from '../../src/server/compute/uids.js'
import { processesUnder } from '../../src/server/compute/processes.js'
import { readState } from '../../src/server/lab-state.js'
import { PYTHON_TROVE_DIVERTED } from '../helpers/clients.js'
import { cleanEnv, ROOT, tempDir } from '../helpers/lab.js'

/**
 * The README, literally: its Quick start's first line (set up and start) and every command
 * of "Using the lab", run by bash on a clean copy of the repository (tracked files only: no
 * dist/, no spec folder beside the clone), with the python clients installed as the set-up installs them.
 * The commands are changed in one way only: the default data dir becomes a temp dir and
 * the port any free one (TROVE_DATA_DIR, TROVE_PORT=0: the server binds port 0; a port probed free here and
 * given to it could be taken by another process's bind(0) during the set-up that runs first). What is not literal: node_modules is
 * a hard-linked copy of this checkout's install (npm ci would take minutes; the set-up's own
 * check sees it as installed), the build is this checkout's, copied (the set-up's `node
 * scripts/build.mjs` finds it up to date by its source digest and skips tsc, as on a second
 * run; .ci/run builds on a fresh clone for real), and TROVE_PREFIX points the PATH and man links at a temp prefix
 * so the host's /usr/local stays as it is. At the end nothing of the lab may be left.
 */

const README = readFileSync(join(ROOT, 'README.md'), 'utf8')

/** The shell lines of the ```sh blocks of a `## title` section. */
function sectionCommands(title: string): string[] {
  const start = README.indexOf(`\n## ${title}\n`)
  if (start < 0) throw new Error(`README has no section '## ${title}'`)
  const next = /\n#{2,3} /.exec(README.slice(start + 1)) // the section, up to its first subsection
  const body = README.slice(start, next ? start + 1 + next.index : undefined)
  return [...body.matchAll(/```sh\n([\s\S]*?)```/g)]
    .flatMap((m) => m[1].split('\n'))
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
}

function run(line: string, env: Record<string, string>, cwd: string): Promise<{ code: number; out: string }> {
  return new Promise((done) => {
    // env -u: tap injects its loaders into children through NODE_OPTIONS (see troveCommand)
    const child = spawn('/usr/bin/env', ['-u', 'NODE_OPTIONS', 'bash', '-c', line], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (b) => {
      out += b
    })
    child.stderr.on('data', (b) => {
      out += b
    })
    child.on('close', (code) => done({ code: code ?? -1, out }))
  })
}

t.test('the Quick start has exactly two command lines: set up and start, set up and test', async (t) => {
  t.same(sectionCommands('Quick start'), ['bash scripts/setup.sh && trove server start', 'bash scripts/setup.sh && npm test'])
  t.match(readFileSync(join(ROOT, '.ci/run'), 'utf8'), /bash scripts\/setup\.sh[\s\S]*npm test/, '.ci/run runs the second line')
})

t.test('the README Quick start and usage, literally, on a clean clone; teardown leaves nothing', async (t) => {
  if (process.getuid?.() !== 0) {
    t.plan(0, 'the set-up needs root')
    return
  }
  const tmp = tempDir(t, 'rm')
  const clone = join(tmp, 'trove')
  const prefix = join(tmp, 'prefix')
  const lab = join(tmp, 'lab')
  const home = join(tmp, 'home')
  mkdirSync(home)

  // A clean clone of the working tree: tracked (and new, not ignored) files.
  const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' }).split('\0').filter(Boolean)
  for (const f of files) {
    if (!existsSync(join(ROOT, f)) || f === 'node_modules' || f === 'dist') continue
    mkdirSync(dirname(join(clone, f)), { recursive: true })
    copyFileSync(join(ROOT, f), join(clone, f))
  }
  t.notOk(existsSync(join(clone, 'dist')), 'no build in the clone')
  // This checkout's build, as scripts/build.mjs lays it out (dist -> .dist.<id>); if its digest
  // does not match the clone's sources, the set-up rebuilds as it would anyway.
  const built = realpathSync(join(ROOT, 'dist'))
  cpSync(built, join(clone, basename(built)), { recursive: true })
  symlinkSync(basename(built), join(clone, 'dist'))
  // node_modules as hard links of this checkout's files (~1 s): the lab's sandboxed agents (the default isolation) get the
  // clone's node_modules bound into their sandboxes, where links pointing out of it would lead nowhere.
  execFileSync('cp', ['-al', join(ROOT, 'node_modules'), join(clone, 'node_modules')])
  // The set-up's stamp of an install (scripts/install-stamp.sh), in a file of its own (the copy's is a hard link to
  // this checkout's stamp, which a write would change too).
  rmSync(join(clone, 'node_modules/.trove-setup'), { force: true })
  writeFileSync(join(clone, 'node_modules/.trove-setup'), execFileSync('bash', [join(clone, 'scripts/install-stamp.sh')], { encoding: 'utf8' }))

  const base = cleanEnv({ HOME: home, TROVE_PREFIX: prefix, TROVE_DATA_DIR: lab, TROVE_PORT: '0' })
  // The README as a new user runs it: the default isolation, sandbox (the suite's own default is none).
  delete base.TROVE_ISOLATION
  const env = { ...base, PATH: `${prefix}/bin:${base.PATH ?? '/usr/bin:/bin'}` }
  const param = (line: string) => line.replaceAll('/var/lib/trove-lab', lab)

  const [first] = sectionCommands('Quick start')
  let r = await run(param(first), env, clone)
  t.equal(r.code, 0, `${first}\n${r.out}`)
  t.match(r.out, /trove lab server listening on http:\/\/127\.0\.0\.1:[1-9]\d*\n/)
  t.match(r.out, `export OS_CLIENT_CONFIG_FILE=${lab}/clouds.yaml OS_CLOUD=trove-lab`)
  t.equal(realpathSync(join(clone, 'dist')), join(clone, basename(built)), 'the set-up kept the build: its sources are the ones it was made from')
  // npm ci (~100 s, patch-package's "Applying patches" among its lines) did not run: the stamp says installed.
  t.notMatch(r.out, /Applying patches|added \d+ packages/, 'the set-up kept the install')
  // The background lab runs tuned for memory (lab-control.ts: SERVER_NODE_FLAGS, SERVER_ENV).
  const pid = readState(lab)?.pid
  const proc = (f: string) => readFileSync(`/proc/${pid}/${f}`, 'utf8').split('\0')
  t.ok(proc('cmdline').includes('--max-semi-space-size=4'), "the server's young generation is capped")
  t.ok(proc('environ').includes('MALLOC_ARENA_MAX=1'), 'the server has one malloc arena')
  t.match(r.out, /isolation +sandbox \(/, 'the default isolation: sandboxes, as the banner says')

  // `trove` is this package's CLI; its man pages are where man finds them; the python client is out of the way.
  r = await run('command -v trove', env, home)
  t.equal(realpathSync(r.out.trim()), join(clone, 'bin/trove'))
  t.ok(existsSync(join(prefix, 'share/man/man1/trove-instance-create.1')), 'one page per command')
  r = await run('man -w trove', env, home)
  t.equal(realpathSync(r.out.trim()), join(clone, 'man/trove.1'), "man trove finds our page (man -w prints the link's target)")
  t.equal(execFileSync('dpkg-divert', ['--truename', '/usr/bin/trove'], { encoding: 'utf8' }).trim(), PYTHON_TROVE_DIVERTED)
  t.ok(existsSync(PYTHON_TROVE_DIVERTED), 'the python trove client is where the tests look')

  const ids = new Set<string>()
  const exports: string[] = []
  for (const line of sectionCommands('Using the lab')) {
    const cmd = param(line)
    r = await run([...exports, cmd].join('\n'), env, home)
    t.equal(r.code, 0, `${line}\n${r.out}`)
    if (cmd.startsWith('export ')) exports.push(cmd)
    try {
      for (const id of readdirSync(join(lab, 'instances'))) ids.add(id)
    } catch {
      /* none yet, or reset */
    }
  }
  t.ok(ids.size >= 1, 'the usage made instances')
  t.notOk(existsSync(lab), 'no file of the lab is left')
  t.same(processesUnder(tmp), [], 'no process (server, agents, engines)')
  let claims: string[] = []
  try {
    claims = readdirSync(CLAIM_DIR).filter((a) => {
      try {
        return readFileSync(join(CLAIM_DIR, a), 'utf8').startsWith(`${lab}/`)
      } catch {
        return false
      }
    })
  } catch {
    /* none */
  }
  t.same(claims, [], 'no address claim')
  // The sandboxes' parts: none of this lab's network, rules, loop devices, mounts or uid claims.
  const labId = labIdOf(lab)
  t.notOk(execFileSync('nft', ['list', 'tables'], { encoding: 'utf8' }).includes(tableName(labId)), 'no nft table')
  t.notOk(execFileSync('ip', ['-br', 'link', 'show', 'type', 'bridge'], { encoding: 'utf8' }).includes(bridgeName(labId)), 'no lab bridge')
  const lines = (cmd: string, args: string[]) => execFileSync(cmd, args, { encoding: 'utf8' }).split('\n')
  t.same(
    lines('losetup', ['--list', '--noheadings', '--output', 'BACK-FILE']).filter((f) => f.startsWith(`${tmp}/`)),
    [],
    'no loop device',
  )
  t.same(
    lines('findmnt', ['-rn', '-o', 'TARGET']).filter((m) => m.startsWith(`${tmp}/`)),
    [],
    'no mount',
  )
  const uidClaims = existsSync(UID_CLAIM_DIR) ? readdirSync(UID_CLAIM_DIR).filter((u) => readFileSync(join(UID_CLAIM_DIR, u), 'utf8').startsWith(`${lab}/`)) : []
  t.same(uidClaims, [], 'no uid claim')
  const groups: string[] = []
  const walk = (d: string, depth: number) => {
    let es
    try {
      es = readdirSync(d, { withFileTypes: true })
    } catch {
      return
    }
    for (const e of es)
      if (e.isDirectory()) {
        if (ids.has(e.name.replace(/^trove-/, ''))) groups.push(join(d, e.name))
        else if (depth < 6) walk(join(d, e.name), depth + 1)
      }
  }
  for (const c of ['memory', 'cpu']) walk(join('/sys/fs/cgroup', c), 0)
  t.same(groups, [], 'no cgroup')
})
