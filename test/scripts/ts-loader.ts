import t from 'tap'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse } from 'yaml'
import { ROOT, tempDir } from '../helpers/lab.js'

/**
 * scripts/ts-loader: the hooks that run the repository's TypeScript in test processes (.taprc's
 * node-arg) in place of tsx, whose loader cost ~0.45 CPU-s per process start (issue 11).
 */
const nodeArgs: string[] = parse(readFileSync(join(ROOT, '.taprc'), 'utf8'))['node-arg']
const options = (await import(join(ROOT, 'scripts/ts-loader/options.mjs'))) as { cacheFile: (path: string, source: string) => string; CACHE_DIR: string }

/** Runs `entry` as tap runs a test file: node with source maps on and .taprc's node-arg, from the repository's root. */
function run(entry: string) {
  return spawnSync(process.execPath, ['--enable-source-maps', ...nodeArgs, entry], { cwd: ROOT, encoding: 'utf8', timeout: 600_000 })
}

t.test('.taprc runs test files through scripts/ts-loader, not tsx', async (t) => {
  // Beside it, only the suite's default isolation (test/helpers/suite-isolation.mjs): no other loader.
  t.same(nodeArgs, ['--import=./scripts/ts-loader/register.mjs', '--import=./test/helpers/suite-isolation.mjs'])
})

t.test('a .ts module runs: types stripped, ./x.js meaning x.ts, its own URL, stack lines and a source map naming the source', async (t) => {
  const dir = tempDir(t, 'tsl')
  writeFileSync(join(dir, 'b.ts'), 'export interface Shape { n: number }\nexport const twice = (s: Shape): number => s.n * 2\n')
  writeFileSync(join(dir, 'plain.js'), 'export const plain = "js beside ts"\n')
  writeFileSync(
    join(dir, 'a.ts'),
    [
      "import { findSourceMap } from 'node:module'",
      "import { twice, type Shape } from './b.js'",
      "import { plain } from './plain.js'",
      'const s: Shape = { n: 21 }',
      '',
      'function where(): string {',
      "  return new Error('here').stack!.split('\\n')[1]",
      '}',
      'const map = findSourceMap(import.meta.url)?.payload',
      'console.log(JSON.stringify({ v: twice(s), plain, url: import.meta.url, at: where(), sources: map?.sources, content: map && "sourcesContent" in map }))',
    ].join('\n'),
  )
  const r = run(join(dir, 'a.ts'))
  t.equal(r.status, 0, r.stderr)
  const out = JSON.parse(r.stdout)
  t.equal(out.v, 42, 'the imported .ts module ran')
  t.equal(out.plain, 'js beside ts', 'a real .js file is imported as it is')
  t.equal(out.url, `file://${join(dir, 'a.ts')}`, 'import.meta.url is the .ts file (fixtures and helpers find their files by it)')
  t.match(out.at, `${join(dir, 'a.ts')}:7:`, 'a stack line names the .ts file and its line (tap shows the failing source by it)')
  t.same(out.sources, [`file://${join(dir, 'a.ts')}`], 'the source map names the .ts source: coverage is counted on it')
  t.equal(out.content, false, 'no sourcesContent (tsx wrote [null], which the coverage report had to mend in every file)')
})

t.test('the repository runs: a .tsx component, and a test file that imports src/', async (t) => {
  const dir = tempDir(t, 'tsl')
  const entry = join(dir, 'x.ts')
  writeFileSync(
    entry,
    [
      `const view = await import(${JSON.stringify(join(ROOT, 'src/cli/ui/wait-view.tsx'))})`,
      `const out = await import(${JSON.stringify(join(ROOT, 'src/cli/output/pretty-table.ts'))})`,
      'console.log(Object.keys(view).length > 0, Object.keys(out).length > 0)',
    ].join('\n'),
  )
  const r = run(entry)
  t.equal(r.status, 0, r.stderr)
  t.equal(r.stdout.trim(), 'true true')
  // `./view.js` written in a .ts module names view.tsx when that is the file (test/cli/ui-snapshots.ts imports so).
  writeFileSync(join(dir, 'view.tsx'), "export const View = (): string => 'hi'\n")
  writeFileSync(join(dir, 'uses.ts'), "import { View } from './view.js'\nconsole.log(typeof View)\n")
  const viaJs = run(join(dir, 'uses.ts'))
  t.equal(viaJs.status, 0, viaJs.stderr)
  t.equal(viaJs.stdout.trim(), 'function', './view.js resolves to view.tsx')
})

t.test('warm.mjs fills the cache for every TypeScript file and prunes entries no file produces', async (t) => {
  const stale = join(options.CACHE_DIR, 'zz', `stale-${process.pid}-${Date.now()}.js`)
  mkdirSync(join(options.CACHE_DIR, 'zz'), { recursive: true })
  writeFileSync(stale, '// an edited file once produced this\n')
  t.teardown(() => spawnSync('rm', ['-f', stale]))
  const r = spawnSync(process.execPath, [join(ROOT, 'scripts/ts-loader/warm.mjs'), '--verbose'], { cwd: ROOT, encoding: 'utf8', timeout: 600_000 })
  t.equal(r.status, 0, r.stderr)
  t.match(r.stderr, /^ts-cache: \d+ files, \d+ transformed, [1-9]\d* pruned\n$/)
  t.notOk(existsSync(stale), 'the stale entry is gone')
  for (const f of ['src/server/index.ts', 'src/cli/ui/wait-view.tsx', 'test/scripts/ts-loader.ts']) {
    const path = join(ROOT, f)
    t.ok(existsSync(options.cacheFile(path, readFileSync(path, 'utf8'))), `${f} is in the cache: its test processes transform nothing`)
  }
})
