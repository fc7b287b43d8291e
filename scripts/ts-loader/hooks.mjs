// Module hooks that let Node run the repository's TypeScript (src/, test/, bench/) in test processes.
// They do what tsx did there, for a fraction of its start-up cost: tsx cost ~0.45 CPU-s per process
// before the first line of a test ran (its loader and its own CommonJS/ESM machinery, in both the
// main and the hooks thread), and ~190 test processes start in a full `npm test` (issue 11). The
// transform itself is esbuild's, as in tsx; its output is cached by content in .tap/ts-cache, which
// scripts/ts-loader/warm.mjs fills with one esbuild call before tap starts (a cold clone would
// otherwise start esbuild's service in every process). Module URLs stay those of the .ts files,
// so import.meta.url, stack traces, tap's file names and coverage (an inline source map per
// module, without sourcesContent: the report reads src/*.ts from disk) all name the sources.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { cacheFile, transformOptions } from './options.mjs'

const TS = /\.(ts|tsx|mts|cts)$/
/** What a `.js`-style specifier may name in TypeScript, in the order tsc looks (`./view.js` is view.ts or view.tsx). */
const JS_OF_TS = { '.js': ['.ts', '.tsx'], '.jsx': ['.tsx'], '.mjs': ['.mts'], '.cjs': ['.cts'] }
let esbuild

/** tap's bundle (tap-bundle.mjs) where register.mjs loaded it: `import 'tap'` is that module. */
let tapUrl

export function initialize(data) {
  tapUrl = data?.tap
}

/**
 * `./x.js` written in a .ts module means `./x.ts` (TypeScript's NodeNext convention) when no x.js
 * sits beside it; the entry `node test/x.ts` and `import('./x.ts')` resolve as they are.
 */
export async function resolve(specifier, context, next) {
  if (specifier === 'tap' && tapUrl) return { url: tapUrl, format: 'module', shortCircuit: true }
  const parent = context.parentURL
  if (parent?.startsWith('file:') && TS.test(parent) && (specifier.startsWith('./') || specifier.startsWith('../'))) {
    const ext = specifier.match(/\.[cm]?jsx?$/)?.[0]
    if (ext) {
      const url = new URL(specifier, parent)
      const path = fileURLToPath(url)
      if (!existsSync(path)) {
        for (const to of JS_OF_TS[ext]) {
          if (existsSync(path.slice(0, -ext.length) + to)) return { url: new URL(specifier.slice(0, -ext.length) + to, parent).href, format: 'module', shortCircuit: true }
        }
      }
    }
  }
  return next(specifier, context)
}

export async function load(url, context, next) {
  if (!url.startsWith('file:') || !TS.test(new URL(url).pathname)) return next(url, context)
  const path = fileURLToPath(url)
  const source = readFileSync(path, 'utf8')
  const cached = cacheFile(path, source)
  let code
  try {
    code = readFileSync(cached, 'utf8')
  } catch {
    esbuild ??= await import('esbuild')
    code = (await esbuild.transform(source, transformOptions(path))).code
    mkdirSync(dirname(cached), { recursive: true })
    // Written aside and renamed: test processes run side by side and may read it meanwhile.
    const tmp = `${cached}.${process.pid}`
    writeFileSync(tmp, code)
    renameSync(tmp, cached)
  }
  return { format: path.endsWith('.cts') ? 'commonjs' : 'module', source: code, shortCircuit: true }
}
