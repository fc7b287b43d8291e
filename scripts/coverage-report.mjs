#!/usr/bin/env node
// Reports the coverage tap collected (.tap/coverage) as a text summary and json-summary, after one
// repair. tsx writes its source maps without `sourcesContent` ([null]) whenever Node's source maps
// are on (tap turns them on) and NODE_V8_COVERAGE is unset (tap covers through the inspector
// instead), and v8-to-istanbul 9 takes that null for the original text: every file then counts as a
// single covered line. Dropping the null entries makes v8-to-istanbul read the original from disk,
// as it does for any map without sources. Neither tool has an option for this; it is ~15 lines.
// The report is c8's, as tap makes it (`tap report` would also print a TAP stream of its own), on
// src/ only. `--dir D --out O` read the coverage of D and write the report in O (the defaults are
// .tap/coverage and .tap/report; test/scripts/coverage-report.ts uses its own).
import { Report } from 'c8'
import libReport from 'istanbul-lib-report'
import reports from 'istanbul-reports'
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const root = fileURLToPath(new URL('..', import.meta.url))
const { values: args } = parseArgs({ options: { dir: { type: 'string' }, out: { type: 'string' } } })
const dir = args.dir ?? join(root, '.tap/coverage')
const out = args.out ?? join(root, '.tap/report')
let files = []
try {
  files = readdirSync(dir).filter((f) => f.endsWith('.json'))
} catch {}
// Only the files of processes that ran tsx hold such maps (test processes run scripts/ts-loader,
// whose maps have no sourcesContent; a few tests start children with tsx): a file is parsed and
// rewritten only when its bytes hold a null first in a sourcesContent (JSON.stringify's compact form,
// as Node and tap write them), which a byte search finds without decoding the ~1.3 GB of a full run
// (decoding it as text took ~20 s of the report's ~70).
const nullContent = Buffer.from('"sourcesContent":[null')
for (const f of files) {
  const path = join(dir, f)
  const bytes = readFileSync(path)
  if (bytes.indexOf(nullContent) === -1) continue
  const cov = JSON.parse(bytes.toString('utf8'))
  let mended = false
  for (const entry of Object.values(cov['source-map-cache'] ?? {})) {
    const content = entry?.data?.sourcesContent
    if (Array.isArray(content) && content.some((s) => s == null)) {
      delete entry.data.sourcesContent
      mended = true
    }
  }
  if (mended) writeFileSync(path, JSON.stringify(cov))
}
if (!files.length) {
  console.error(`coverage: nothing in ${dir} (was the suite run with coverage?)`)
  process.exit(1)
}
process.chdir(root)
// The servers and agents that tests start run bundles (dist/*/bundle.js, test/helpers/lab.ts): their
// coverage is counted on the sources the bundles' maps name, packages included; only src/ is the
// project's. c8 filters sources after the remap only by an option that also drops the ranges of
// single-source maps (it matches their file:// source names against `include`), so the map is
// filtered here and reported as c8 would.
// mergeAsync: one file at a time (a full run leaves ~1 GB of them: each server's covers its whole bundle).
const report = new Report({ reportsDirectory: out, tempDirectory: dir, excludeNodeModules: true, mergeAsync: true })
const map = await report.getCoverageMapFromAllCoverageFiles()
const src = join(root, 'src') + sep
map.filter((file) => file.startsWith(src))
const context = libReport.createContext({ dir: out, coverageMap: map })
for (const r of ['text-summary', 'json-summary']) reports.create(r).execute(context)
