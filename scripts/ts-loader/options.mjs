// What hooks.mjs and warm.mjs share: esbuild's options for one file and the cache file of its output.
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const ROOT = fileURLToPath(new URL('../..', import.meta.url))
export const CACHE_DIR = join(ROOT, '.tap/ts-cache')
const esbuildVersion = JSON.parse(readFileSync(join(ROOT, 'node_modules/esbuild/package.json'), 'utf8')).version
// tsconfig.json is plain JSON (no comments): its compilerOptions carry what esbuild honours (jsx, target, ...).
const tsconfigRaw = JSON.parse(readFileSync(join(ROOT, 'tsconfig.json'), 'utf8'))

/** esbuild's transform options for the file at `path`. */
export function transformOptions(path) {
  return {
    loader: path.endsWith('x') ? 'tsx' : 'ts',
    format: path.endsWith('.cts') ? 'cjs' : 'esm',
    target: 'node20',
    platform: 'node',
    sourcemap: 'inline',
    sourcesContent: false,
    sourcefile: path,
    tsconfigRaw,
  }
}

const salt = `${esbuildVersion}\0${JSON.stringify(tsconfigRaw)}\0v2\0`
/** The cache file of a source's output: named by the digest of its path, its text and the options. */
export function cacheFile(path, source) {
  const h = createHash('sha1').update(salt).update(path).update('\0').update(source).digest('hex')
  return join(CACHE_DIR, h.slice(0, 2), `${h.slice(2)}.js`)
}
