import t from 'tap'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { ROOT, tempDir } from '../helpers/lab.js'

/**
 * scripts/coverage-report.mjs counts the coverage of the processes tests start (servers and agents
 * run the bundles of dist/, test/helpers/lab.ts) on the sources the bundles' maps name, and reports
 * src/ only: not the bundles, not the packages bundled in them.
 */
t.test('a bundle run with NODE_V8_COVERAGE is reported on src/, and only src/', async (t) => {
  const cov = tempDir(t, 'cov')
  const out = tempDir(t, 'cov')
  const load = `await import(${JSON.stringify(join(ROOT, 'dist/server/bundle.js'))}); await import(${JSON.stringify(join(ROOT, 'dist/agent/bundle.js'))})`
  const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', NODE_V8_COVERAGE: cov }
  // `env -u NODE_OPTIONS`, as the suite starts servers and agents: tap's loader, which it adds to every
  // child's environment, would take the coverage over (its own, of its own files).
  const ran = spawnSync('/usr/bin/env', ['-u', 'NODE_OPTIONS', process.execPath, '--input-type=module', '-e', load], { env, encoding: 'utf8', timeout: 120_000 })
  t.equal(ran.status, 0, ran.stderr)
  const r = spawnSync(process.execPath, [join(ROOT, 'scripts/coverage-report.mjs'), '--dir', cov, '--out', out], { encoding: 'utf8', timeout: 300_000 })
  t.equal(r.status, 0, r.stderr)
  const summary = JSON.parse(readFileSync(join(out, 'coverage-summary.json'), 'utf8')) as Record<string, { lines: { covered: number } }>
  const files = Object.keys(summary).filter((k) => k !== 'total')
  t.same(
    files.filter((f) => !f.startsWith(join(ROOT, 'src/'))),
    [],
    'every file reported is under src/ (no bundle, no bundled package)',
  )
  const covered = (part: string) => files.filter((f) => f.includes(part) && summary[f].lines.covered > 0).length
  t.ok(covered('/src/server/') > 50, "the server bundle's lines count on src/server/*.ts")
  t.ok(covered('/src/agent/') > 20, "the agent bundle's lines count on src/agent/*.ts")
})
