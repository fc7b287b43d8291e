#!/usr/bin/env node
// Fills .tap/ts-cache (hooks.mjs) with the output of every TypeScript file under src/, test/ and
// bench/ that is not there yet, in one process with one esbuild service, before tap starts its test
// processes; then removes the entries that no current file produced (edited or deleted files).
// On a warm cache it only reads and hashes the files (~0.3 s).
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { transform } from 'esbuild'
import { CACHE_DIR, cacheFile, ROOT, transformOptions } from './options.mjs'

function tsFiles(dir) {
  let entries
  try {
    entries = readdirSync(dir, { withFileTypes: true })
  } catch {
    return []
  }
  return entries.flatMap((e) => {
    const p = join(dir, e.name)
    if (e.isDirectory()) return e.name === 'node_modules' ? [] : tsFiles(p)
    return /\.(ts|tsx|mts|cts)$/.test(e.name) && !e.name.endsWith('.d.ts') ? [p] : []
  })
}

const wanted = new Set()
let made = 0
const failed = []
await Promise.all(
  ['src', 'test', 'bench']
    .flatMap((d) => tsFiles(join(ROOT, d)))
    .map(async (path) => {
      const source = readFileSync(path, 'utf8')
      const out = cacheFile(path, source)
      wanted.add(out)
      try {
        statSync(out)
        return
      } catch {}
      try {
        const { code } = await transform(source, transformOptions(path))
        mkdirSync(dirname(out), { recursive: true })
        writeFileSync(out, code)
        made++
      } catch (e) {
        // A file esbuild cannot parse fails in its own test process, with its own message.
        failed.push(`${relative(ROOT, path)}: ${e.message.split('\n')[0]}`)
      }
    }),
)
let pruned = 0
mkdirSync(CACHE_DIR, { recursive: true })
for (const sub of readdirSync(CACHE_DIR, { withFileTypes: true })) {
  if (!sub.isDirectory()) continue
  for (const f of readdirSync(join(CACHE_DIR, sub.name))) {
    const p = join(CACHE_DIR, sub.name, f)
    if (!wanted.has(p)) {
      rmSync(p, { force: true })
      pruned++
    }
  }
}
if (process.argv.includes('--verbose') || failed.length) {
  console.error(`ts-cache: ${wanted.size} files, ${made} transformed, ${pruned} pruned${failed.length ? `; not transformed: ${failed.join('; ')}` : ''}`)
}
