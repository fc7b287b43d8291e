// Fails when the suite's coverage (tap's json-summary, .tap/report/coverage-summary.json) falls
// below the floor in scripts/coverage-floor.json: the level of the day coverage was switched on,
// rounded down to a whole percent, less one point for the run-to-run variance of paths the e2e
// tests take (2026-12-05, fresh clone: lines 90.52, functions 86.92, branches 85.49). Raised on
// 2026-12-05 once tsx's maps were reported right (scripts/coverage-report.mjs; two full runs: lines
// 92.11-92.12, functions 92.1, branches 86.98-87.04) to lines 91, functions 90 (the day's new
// sandbox and schedule code not yet measured in a full run), branches 85. Set again on 2026-12-06, when
// the coverage of the servers, agents and trove commands that tests start came to count (test/helpers/lab.ts;
// two fresh clones: lines 96.32 and 96.47, functions 90.88 and 92.51, branches 89.09 and 87.82: which agents
// end by exit, and so write theirs, varies), by the same rule on the lower of the two: lines and statements
// 95, functions 89, branches 86. Functions is one point lower than the floor before: that floor
// stood on tsx's figures, which counted esbuild's helpers in each file as functions run (measured right, with
// scripts/ts-loader, the test processes alone ran 84.72%). Raised on 2026-12-07 (session 24), when the report came
// to count each source under the map its runs had (scripts/coverage-report.mjs: c8 had counted the ts-loader runs of
// 76 files on the maps of the few tsx children, whichever it read last; no child runs tsx now): two fresh clones,
// lines 97.14 and 97.15, functions 94.24 both, branches 89.11 and 89.13, by the same rule: lines and statements 96,
// functions 93, branches 88. Raised on 2026-12-07 (session 25), when in-process labs came to run the server's bundle
// under `npm test` (test/helpers/lab.ts), counted through its map: two fresh clones, lines 97.07 and 97.08,
// functions 95.53 both, branches 89.23 and 89.34, by the same rule: functions 94, the others as they were.
// Raise the floor when coverage grows; never lower it for any other reason.
// `node scripts/coverage-floor.mjs --set` writes the last run's level (rounded down) as the floor.
import { readFileSync, writeFileSync } from 'node:fs'

const floor = JSON.parse(readFileSync(new URL('./coverage-floor.json', import.meta.url), 'utf8'))
let total
try {
  total = JSON.parse(readFileSync('.tap/report/coverage-summary.json', 'utf8')).total
} catch (e) {
  console.error(`coverage: no .tap/report/coverage-summary.json (${e.message}); run the suite with coverage first`)
  process.exit(1)
}
if (process.argv.includes('--set')) {
  const next = Object.fromEntries(Object.keys(floor).map((k) => [k, Math.max(floor[k], Math.floor(total[k]?.pct ?? 0))]))
  writeFileSync(new URL('./coverage-floor.json', import.meta.url), `${JSON.stringify(next)}\n`)
  console.log(`coverage floor set: ${JSON.stringify(next)}`)
  process.exit(0)
}
const low = Object.entries(floor).filter(([k, min]) => !(total[k]?.pct >= min))
console.log(
  `coverage: ${Object.keys(floor)
    .map((k) => `${k} ${total[k]?.pct}% (floor ${floor[k]}%)`)
    .join(', ')}`,
)
if (low.length) {
  console.error(`coverage fell below its floor: ${low.map(([k, min]) => `${k} ${total[k]?.pct}% < ${min}%`).join(', ')}`)
  process.exit(1)
}
