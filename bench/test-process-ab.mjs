// Before/after, by turns on the same machine: what a test process costs (issue 11: a full `npm test`
// starts ~220). Each run starts one test file as tap's runner does (node with source maps,
// processinfo's --import, .taprc's node-arg, coverage on); the figures are that process's user+system
// CPU and wall time, from its start to its exit (tap's own time= leaves out the module loading and the
// coverage written at exit). Measured on the process alone: through `tap FILE` the runner's ~3 CPU-s
// and its variance under load hid the difference. Two comparisons (BENCH_AB):
// - `hooks` (default): with tap's module hooks (@tapjs/processinfo's loader,
//   `_TAPJS_PROCESSINFO_NO_LOADER_=0`, as before patches/@tapjs+processinfo) and without (.taprc's test-env);
// - `bundles`: tap's modules and the server's sources (a test file run by itself) against tap's bundle
//   and the server's (`TROVE_TEST_BUNDLES=1`, as under `npm test`; the bench makes tap's bundle first).
// Knobs: BENCH_RUNS (6), BENCH_FILES (comma-separated).
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse } from 'yaml'
import { ROOT, machine, median } from './lib.mjs'

const RUNS = Number(process.env.BENCH_RUNS ?? 6)
const FILES = (process.env.BENCH_FILES ?? 'test/server/quotas.ts,test/server/api/limits.ts').split(',')
const AB = process.env.BENCH_AB ?? 'hooks'
const MODES =
  AB === 'bundles'
    ? { 'modules and sources': { _TAPJS_PROCESSINFO_NO_LOADER_: '1', TROVE_TEST_BUNDLES: '0' }, bundles: { _TAPJS_PROCESSINFO_NO_LOADER_: '1', TROVE_TEST_BUNDLES: '1' } }
    : { 'hooks on': { _TAPJS_PROCESSINFO_NO_LOADER_: '0' }, 'hooks off': { _TAPJS_PROCESSINFO_NO_LOADER_: '1' } }
if (AB === 'bundles') await (await import('../scripts/ts-loader/tap-bundle.mjs')).ensureTapBundle()
const nodeArgs = parse(readFileSync(join(ROOT, '.taprc'), 'utf8'))['node-arg']
const processinfo = new URL('../node_modules/@tapjs/processinfo/dist/esm/import.mjs', import.meta.url).href

/** One test process: CPU seconds (from /usr/bin/time) and wall seconds. */
function run(file, mode) {
  const env = {
    ...process.env,
    TAP: '1',
    TAP_REPORTER: 'silent',
    _TAPJS_PROCESSINFO_COVERAGE_: '1',
    _TAPJS_PROCESSINFO_CWD_: ROOT,
    _TAPJS_PROCESSINFO_COV_EXCLUDE_: `/^${ROOT.replace(/[/.]/g, '\\$&')}\\/node_modules/`,
    ...mode,
  }
  delete env.NODE_OPTIONS
  const t0 = performance.now()
  const r = spawnSync('/usr/bin/time', ['-f', '%U %S', process.execPath, '--enable-source-maps', `--import=${processinfo}`, ...nodeArgs, file], { cwd: ROOT, env, encoding: 'utf8' })
  const wall = (performance.now() - t0) / 1000
  if (r.status !== 0) throw new Error(`${file} (${JSON.stringify(mode)}) exited ${r.status}: ${r.stdout}${r.stderr}`)
  const [u, s] = r.stderr.trim().split('\n').pop().split(' ').map(Number)
  return { cpu: u + s, wall }
}

console.log(machine())
for (const file of FILES) {
  const res = Object.fromEntries(Object.keys(MODES).map((k) => [k, []]))
  for (let i = 0; i < RUNS; i++) for (const [k, mode] of Object.entries(MODES)) res[k].push(run(file, mode))
  for (const k of Object.keys(MODES)) {
    console.log(`${file}, ${k}: CPU median ${median(res[k].map((r) => r.cpu)).toFixed(2)} s, wall median ${median(res[k].map((r) => r.wall)).toFixed(2)} s (${RUNS} runs)`)
  }
}
