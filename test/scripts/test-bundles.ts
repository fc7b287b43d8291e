import t from 'tap'
import { execFile } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { promisify } from 'node:util'
import { buildServer, ROOT, serverModule, tempDir } from '../helpers/lab.js'

/**
 * What `npm test` gives its test processes once it has built (scripts/run-tests.mjs, TROVE_TEST_BUNDLES=1):
 * the server's bundle for in-process labs and tap in one file (scripts/ts-loader/tap-bundle.mjs); a test file
 * run by itself loads the sources and tap's modules.
 */
const underNpmTest = process.env.TROVE_TEST_BUNDLES === '1'
const run = promisify(execFile)
const { TAP_BUNDLE, tapBundleCurrent } = (await import(join(ROOT, 'scripts/ts-loader/tap-bundle.mjs'))) as { TAP_BUNDLE: string; tapBundleCurrent: () => boolean }

t.test('in-process labs: the bundle under npm test, the sources otherwise', async (t) => {
  const mod = await serverModule()
  const bundle = await import(pathToFileURL(join(ROOT, 'dist/server/bundle.js')).href)
  const sources = await import('../../src/server/index.js')
  t.equal(mod.buildServer, underNpmTest ? bundle.buildServer : sources.buildServer, underNpmTest ? 'the bundle' : 'the sources')
  // Either way a lab starts and answers.
  const server = await buildServer({ dataDir: join(tempDir(t), 'lab'), host: '127.0.0.1', port: 0, log: () => {}, spawnAgents: false })
  t.teardown(() => server.close())
  const { url } = await server.start()
  t.equal((await fetch(`${url}/`)).status, 200, 'it answers the version list')
})

t.test("tap: this process's is the bundle under npm test, the package otherwise", async (t) => {
  const resolved = import.meta.resolve('tap')
  if (!underNpmTest) {
    t.match(resolved, /\/node_modules\/tap\//, "tap's own modules")
    return
  }
  t.equal(resolved, pathToFileURL(TAP_BUNDLE).href, "`import 'tap'` is the bundle")
  t.ok(tapBundleCurrent(), 'made from the files tap has now')
})

t.test("a failure's report under the bundle: located in the test file, no frame of the bundle's", { skip: !underNpmTest && 'needs the bundle npm test makes' }, async (t) => {
  const file = join(tempDir(t), 'failing.mjs')
  writeFileSync(file, `import t from ${JSON.stringify(pathToFileURL(TAP_BUNDLE).href)}\nt.test('sub', async (t) => {\n  t.equal(1, 2, 'one is not two')\n})\n`)
  const out = await run(process.execPath, ['--enable-source-maps', file], { env: { PATH: process.env.PATH } }).then(
    () => '',
    (e: { stdout: string }) => e.stdout,
  )
  t.match(out, /not ok 1 - one is not two/, 'the failure is reported')
  t.match(out, /fileName: .*failing\.mjs\n\s+lineNumber: 3\n/, 'at: the line of the assertion')
  const stack = /stack: \|\n([\s\S]*?)\n\s+source:/.exec(out)?.[1] ?? ''
  t.match(stack, /failing\.mjs:3:5/, "the stack has the test's frame")
  t.notMatch(stack, /trove-bundle/, "tap's stack filter drops the bundle's frames")
  t.match(out, /# \{ total: 1, pass: 0, fail: 1 \}/, 'counted as failed')
})
