// The rules a machine keeps (ARCHITECTURE.md, "Invariants"). dependency-cruiser checks the
// import graph of src/ in `npm test` (`npm run lint:deps`, .dependency-cruiser.cjs); this file
// proves that configuration catches each thing it names, on a planted tree, and checks on the
// text what no import graph shows.
import t from 'tap'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join, relative } from 'node:path'
import { cruise, type ICruiseResult, type IConfiguration } from 'dependency-cruiser'
import { ROOT } from './helpers/lab.js'

const config = createRequire(import.meta.url)(join(ROOT, '.dependency-cruiser.cjs')) as IConfiguration

async function violations(baseDir: string): Promise<string[]> {
  const previous = process.cwd()
  process.chdir(baseDir) // the rules' paths are relative to the cruised tree's root
  try {
    const r = await cruise(['src'], { validate: true, ruleSet: { forbidden: config.forbidden }, ...config.options, baseDir }, undefined, { tsConfig: { options: {} } })
    const out = r.output as ICruiseResult
    return out.summary.violations.map((v) => `${v.rule.name}: ${v.from} -> ${v.to}`)
  } finally {
    process.chdir(previous)
  }
}

t.test('each rule catches what it names (a planted tree)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'trove-rules-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const plant: Record<string, string> = {
    'src/server/index.ts': `export const entry = 1\nexport * from './routes/index.js'\n`,
    'src/server/routes/index.ts': `export * from './a.js'\n`,
    'src/server/routes/a.ts': `import { b } from './b.js'\nexport const a = b\n`,
    'src/server/routes/b.ts': `export const b = 1\n`,
    'src/server/http/view.ts': `export const view = 1\n`,
    'src/server/instances/load.ts': `import { b } from '../routes/b.js'\nimport { view } from '../http/view.js'\nexport const load = b + view\n`,
    'src/server/db/instances.ts': `export const rows = 1\n`,
    'src/agent/index.ts': `import { load } from '../server/instances/load.js'\nexport const agent = load\n`,
    'src/agent/one.ts': `import { two } from './two.js'\nexport const one = () => two\n`,
    'src/agent/two.ts': `import { one } from './one.js'\nexport const two = () => one\n`,
    'src/cli/main.ts': `import { entry } from '../server/index.js'\nimport { load } from '../server/instances/load.js'\nexport const main = entry + load\n`,
    'src/sdk/client.ts': `import { q } from '../protocol/q.js'\nexport const client = q\n`,
    'src/protocol/q.ts': `import { agent } from '../agent/index.js'\nexport const q = agent\n`,
    'src/common/units.ts': `import { q } from '../protocol/q.js'\nexport const gb = q\n`,
  }
  for (const [path, text] of Object.entries(plant)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true })
    writeFileSync(join(dir, path), text)
  }
  writeFileSync(join(dir, 'tsconfig.json'), readFileSync(join(ROOT, 'tsconfig.json')))
  const found = await violations(dir)
  const expect = [
    'no-route-imports-a-route: src/server/routes/a.ts -> src/server/routes/b.ts',
    'only-the-server-entry-registers-routes: src/server/instances/load.ts -> src/server/routes/b.ts',
    'domain-does-not-import-http: src/server/instances/load.ts -> src/server/http/view.ts',
    'agent-does-not-import-server: src/agent/index.ts -> src/server/instances/load.ts',
    'cli-reaches-server-and-agent-only-through-their-entry-points: src/cli/main.ts -> src/server/instances/load.ts',
    'cli-loads-entry-points-lazily: src/cli/main.ts -> src/server/index.ts',
    'sdk-is-a-leaf: src/sdk/client.ts -> src/protocol/q.ts',
    'protocol-is-a-leaf: src/protocol/q.ts -> src/agent/index.ts',
    'common-is-a-leaf: src/common/units.ts -> src/protocol/q.ts',
  ]
  for (const e of expect) t.ok(found.includes(e), e)
  t.ok(
    found.some((v) => v.startsWith('no-circular: src/agent/one.ts') || v.startsWith('no-circular: src/agent/two.ts')),
    'the planted cycle is found',
  )
  // The planted tree breaks nothing else: a rule that fires everywhere would pass the checks above.
  t.notOk(
    found.some((v) => v.includes('src/server/db/')),
    'a repository imported by nobody breaks no rule',
  )
})

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n)
    return statSync(p).isDirectory() ? files(p) : /\.tsx?$/.test(n) ? [p] : []
  })
}

const SRC = join(ROOT, 'src')
const sources = files(SRC).map((f) => ({ path: relative(ROOT, f), text: readFileSync(f, 'utf8') }))

t.test('no SQL outside src/server/db/ (repositories own their statements)', async (t) => {
  const sql = /\.prepare\(|\.exec\(\s*[`'"]|[`'"]\s*(SELECT|INSERT INTO|UPDATE \w+ SET|DELETE FROM|CREATE (TABLE|INDEX)|PRAGMA)\b/
  const offenders = sources.filter((f) => f.path.startsWith('src/server/') && !f.path.startsWith('src/server/db/') && sql.test(f.text))
  t.same(
    offenders.map((f) => f.path),
    [],
  )
  t.ok(
    sources.some((f) => f.path.startsWith('src/server/db/') && sql.test(f.text)),
    'the pattern finds the SQL that db/ holds',
  )
})

t.test('no MQTT topic literal outside src/protocol', async (t) => {
  const offenders = sources.filter((f) => !f.path.startsWith('src/protocol/') && /['"`]trove\/(agent|notify)\//.test(f.text))
  t.same(
    offenders.map((f) => f.path),
    [],
  )
  t.ok(
    sources.some((f) => f.path.startsWith('src/protocol/') && /['"`]trove\/(agent|notify)\//.test(f.text)),
    'the pattern finds the topics that protocol/ holds',
  )
})

/**
 * Subtests started together (`Promise.all` over `t.test`) whose parent has no `jobs` option: tap runs a
 * test's subtests one at a time unless its `jobs` allows more, so such a Promise.all reads as side by side
 * and runs in series. Ten e2e files had it; giving them `jobs` made the whole suite slower (1,493 s against
 * 1,417: the machine is already busy with three files at a time, BENCHMARKS.md), so they say what they do,
 * a loop. The check is textual: a `jobs:` must come before the Promise.all in the file (the parent's
 * options precede its body).
 */
function serialisedSubtests(text: string): number {
  let found = 0
  for (let at = text.indexOf('Promise.all('); at >= 0; at = text.indexOf('Promise.all(', at + 1)) {
    let depth = 0
    let end = at + 'Promise.all'.length
    for (; end < text.length; end++) {
      if (text[end] === '(') depth++
      else if (text[end] === ')' && --depth === 0) break
    }
    if (/\bt\.test\(/.test(text.slice(at, end)) && !text.slice(0, at).includes('jobs:')) found++
  }
  return found
}

t.test('subtests started together run together (their parent has jobs), or are written as a series', async (t) => {
  const planted = "t.test('all', async (t) => {\n  await Promise.all(['a', 'b'].map((e) => t.test(e, async () => {})))\n})\n"
  t.equal(serialisedSubtests(planted), 1, 'a Promise.all over t.test without jobs is found')
  t.equal(serialisedSubtests(planted.replace('async (t) =>', '{ jobs: 2 }, async (t) =>')), 0, 'with jobs on the parent it is not')
  t.equal(serialisedSubtests('await Promise.all([a(), b()])\nfor (const e of x) await t.test(e, f)\n'), 0, 'nor a Promise.all of other work, nor subtests in series on purpose')
  const offenders = files(join(ROOT, 'test'))
    .filter((f) => !f.includes('/helpers/') && !f.includes('/fixtures/'))
    .filter((f) => serialisedSubtests(readFileSync(f, 'utf8')) > 0)
  t.same(
    offenders.map((f) => relative(ROOT, f)),
    [],
  )
})
