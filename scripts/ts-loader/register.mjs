// The `--import` of a test process (.taprc's node-arg) and of the TypeScript children tests start
// (test/helpers/ts-loader.ts): registers hooks.mjs.
import { register } from 'node:module'
import { relative, sep } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const main = process.argv[1] ? relative(ROOT, process.argv[1]) : ''
// A test file (.taprc's include and exclude) imports tap first: loaded before the hooks are registered,
// its ~170 modules skip them. Node 20 runs module hooks on a thread of their own, and each module
// loaded through them costs a round trip to it: ~0.1-0.2 CPU-s a test process (issue 11, BENCHMARKS.md).
if (main.startsWith(`test${sep}`) && !main.startsWith(`test${sep}helpers${sep}`) && !main.startsWith(`test${sep}agent${sep}fixtures${sep}`)) await import('tap')

register('./hooks.mjs', import.meta.url)
