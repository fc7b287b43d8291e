// The `--import` of a test process (.taprc's node-arg) and of the TypeScript children tests start
// (test/helpers/ts-loader.ts): registers hooks.mjs.
import { existsSync } from 'node:fs'
import { register } from 'node:module'
import { relative, sep } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { TAP_BUNDLE } from './tap-bundle.mjs'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const main = process.argv[1] ? relative(ROOT, process.argv[1]) : ''
// A test file (.taprc's include and exclude) imports tap first: loaded before the hooks are registered,
// its ~170 modules skip them. Node 20 runs module hooks on a thread of their own, and each module
// loaded through them costs a round trip to it: ~0.1-0.2 CPU-s a test process (issue 11, BENCHMARKS.md).
// Under `npm test` it is tap in one file (tap-bundle.mjs, made before tap started: ~0.2 CPU-s less a
// process), to which hooks.mjs resolves the test file's own `import 'tap'`.
const testFile = main.startsWith(`test${sep}`) && !main.startsWith(`test${sep}helpers${sep}`) && !main.startsWith(`test${sep}agent${sep}fixtures${sep}`)
const tapBundle = testFile && process.env.TROVE_TEST_BUNDLES === '1' && existsSync(TAP_BUNDLE) ? pathToFileURL(TAP_BUNDLE).href : undefined
if (testFile) await import(tapBundle ?? 'tap')

register('./hooks.mjs', { parentURL: import.meta.url, data: { tap: tapBundle } })
