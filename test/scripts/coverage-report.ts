import t from 'tap'
import { spawnSync } from 'node:child_process'
import { copyFileSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { ROOT, tempDir } from '../helpers/lab.js'
import { TS_LOADER } from '../helpers/ts-loader.js'

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

t.test('a source run under two loaders counts under the map most of its runs had; the other runs are named, not mixed in', async (t) => {
  const both = tempDir(t, 'cov')
  const usual = tempDir(t, 'cov')
  const mod = join(ROOT, 'src/cli/json-values.ts')
  const code = `const m = await import(${JSON.stringify(mod)}); m.parseValues('{"a": 1}'); m.pythonJsonError('{')`
  const runUnder = (loader: string, dir: string) => {
    const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', NODE_V8_COVERAGE: dir }
    const r = spawnSync('/usr/bin/env', ['-u', 'NODE_OPTIONS', process.execPath, '--import', loader, '--input-type=module', '-e', code], { env, encoding: 'utf8', timeout: 120_000 })
    t.equal(r.status, 0, r.stderr)
  }
  // Twice through the test processes' loader, once through tsx (another transform, another source map).
  for (let i = 0; i < 2; i++) runUnder(TS_LOADER, usual)
  for (const f of readdirSync(usual)) copyFileSync(join(usual, f), join(both, f))
  runUnder('tsx', both)
  const report = (dir: string) => {
    const out = tempDir(t, 'cov')
    const r = spawnSync(process.execPath, [join(ROOT, 'scripts/coverage-report.mjs'), '--dir', dir, '--out', out], { encoding: 'utf8', timeout: 300_000 })
    t.equal(r.status, 0, r.stderr)
    const summary = JSON.parse(readFileSync(join(out, 'coverage-summary.json'), 'utf8')) as Record<string, unknown>
    return { stdout: r.stdout, file: summary[mod] }
  }
  const a = report(both)
  const b = report(usual)
  t.ok(b.file, 'the source is reported')
  t.same(a.file, b.file, "the tsx run's ranges are not counted on the other map (nor the others on its map)")
  t.match(a.stdout, `${pathToFileURL(mod).href} (1 of 3 processes)`, 'the run left out is named')
  t.notMatch(b.stdout, 'not counted', 'nothing is left out when every run had the same map')
})
