// The default isolation is `sandbox` (issue 14, "Bad input"): a lab started with neither --isolation nor
// TROVE_ISOLATION on a host that lacks what sandboxes need is refused at start, in one line naming what is
// missing and its package, with the way out (set-up, or an explicit --isolation none), before anything is made;
// with an explicit --isolation none the same host runs the lab and the banner says it is not isolated. The
// default itself on a host that has everything: test/e2e/readme.ts (the Quick start's lab is sandboxed).
import t from 'tap'
import { existsSync, mkdirSync, readdirSync, symlinkSync } from 'node:fs'
import { join } from 'node:path'
import { cleanEnv, runCli, startServerProcess, tempDir } from '../helpers/lab.js'

const HINT = 'Try: bash scripts/setup.sh (as root); or trove server --isolation none (instances not isolated)'

t.test('a host without runc: the default refused in one line, before anything is made; --isolation none runs', async (t) => {
  if (process.getuid?.() !== 0) {
    t.plan(0, 'the sandbox check names root first: run as root')
    return
  }
  const dir = tempDir(t, 'tid')
  // The host's PATH less runc: one dir of links to everything else (the server runs on node's absolute path).
  const bin = join(dir, 'bin')
  mkdirSync(bin)
  const linked = new Set(['runc'])
  for (const d of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':').filter(Boolean)) {
    for (const name of existsSync(d) ? readdirSync(d) : []) {
      if (linked.has(name)) continue
      symlinkSync(join(d, name), join(bin, name))
      linked.add(name)
    }
  }
  const env = cleanEnv({ HOME: dir, PATH: bin })
  delete env.TROVE_ISOLATION

  const lab = join(dir, 'lab')
  const fg = await runCli(['server', '--data-dir', lab, '--port', '0'], env)
  t.same([fg.code, fg.stdout, fg.stderr.split('\n')], [1, '', ['--isolation sandbox needs runc, which is not installed (Debian package runc)', HINT, '']], 'trove server: one line and the way out')
  t.notOk(existsSync(lab), 'nothing made: no data dir')
  const bg = await runCli(['server', 'start', '--data-dir', join(dir, 'bg'), '--port', '0'], env)
  t.equal(bg.code, 1)
  t.match(bg.stderr, /^trove server did not start: --isolation sandbox needs runc, which is not installed \(Debian package runc\)\n/, 'trove server start: the same line')
  const empty = await runCli(['server', '--data-dir', lab, '--port', '0'], { ...env, TROVE_ISOLATION: '' })
  t.equal(empty.stderr.split('\n')[0], '--isolation sandbox needs runc, which is not installed (Debian package runc)', 'an empty TROVE_ISOLATION is the default too')

  const none = await startServerProcess(t, lab, ['--isolation', 'none'], { HOME: dir, PATH: bin })
  t.match(none.output(), /\n {2}isolation {2}none \(every engine on a loopback address as one user: not isolated\)\n/, 'explicit none: runs, and the banner says so')
  t.equal(await none.stop(), 0, 'and stops cleanly')
})
