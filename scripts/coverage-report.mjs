#!/usr/bin/env node
// Reports the coverage tap collected (.tap/coverage) as a text summary and json-summary, after one
// repair. tsx writes its source maps without `sourcesContent` ([null]) whenever Node's source maps
// are on (tap turns them on) and NODE_V8_COVERAGE is unset (tap covers through the inspector
// instead), and v8-to-istanbul 9 takes that null for the original text: every file then counts as a
// single covered line. Dropping the null entries makes v8-to-istanbul read the original from disk,
// as it does for any map without sources. Neither tool has an option for this; it is ~15 lines.
// The report is c8's, as tap makes it (`tap report` would also print a TAP stream of its own).
import { Report } from 'c8'
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const dir = join(root, '.tap/coverage')
let files = []
try {
  files = readdirSync(dir).filter((f) => f.endsWith('.json'))
} catch {}
// Only the files of processes that ran tsx hold such maps (test processes run scripts/ts-loader,
// whose maps have no sourcesContent; a few tests start children with tsx): a file is parsed and
// rewritten only when its text has a null in a sourcesContent, which a scan finds in a fraction of
// the time parsing every file took (~8 s for the ~200 MB of a full run).
const nullContent = /"sourcesContent":\s*\[\s*null\s*[,\]]/
for (const f of files) {
  const path = join(dir, f)
  const text = readFileSync(path, 'utf8')
  if (!nullContent.test(text)) continue
  const cov = JSON.parse(text)
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
  console.error('coverage: nothing in .tap/coverage (was the suite run with coverage?)')
  process.exit(1)
}
process.chdir(root)
await new Report({
  reporter: ['text-summary', 'json-summary'],
  reportsDirectory: join(root, '.tap/report'),
  tempDirectory: dir,
  excludeNodeModules: true,
}).run()
