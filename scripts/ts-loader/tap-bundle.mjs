// tap's test-side modules in one file, for the test processes of `npm test` (register.mjs loads it
// and hooks.mjs resolves `tap` to it there). A test process loaded ~170 modules of tap's: ~0.5 CPU-s
// before its first test with coverage on, ~0.3 from this file (issue 11; ~220 test processes a run).
// esbuild bundles it, as scripts/build.mjs does the product; no tool ships tap bundled. Made by
// `npm test` after tap's own build (the Test class of .taprc's plugins is part of it), again only when
// a file it was made of changed (sizes and times in its stamp). It lives under node_modules/@tapjs/ so
// that tap's stack filter (@tapjs/stack, by path) keeps counting its frames as tap's own.
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

export const TAP_BUNDLE = join(ROOT, 'node_modules/@tapjs/.trove-bundle/tap.mjs')
const STAMP = `${TAP_BUNDLE}.stamp.json`

/** Each input's size and modification time, as the stamp keeps them. */
const stat = (path) => {
  try {
    const s = statSync(path)
    return `${s.size}:${s.mtimeMs}`
  } catch {
    return 'missing'
  }
}

/** Whether the bundle exists and every file it was made of is as it was then. */
export function tapBundleCurrent() {
  if (!existsSync(TAP_BUNDLE)) return false
  try {
    const inputs = JSON.parse(readFileSync(STAMP, 'utf8'))
    return Object.entries(inputs).every(([path, was]) => stat(path) === was)
  } catch {
    return false
  }
}

/**
 * The bundle's modules keep their own locations: `import.meta.url` (createRequire, files found beside a module)
 * and CommonJS's __dirname and __filename are the original file's, not the bundle's.
 */
const ownLocations = {
  name: 'own-locations',
  setup(build) {
    build.onLoad({ filter: /\.(js|mjs|cjs)$/ }, (args) => {
      let contents = readFileSync(args.path, 'utf8')
      if (contents.includes('import.meta.url')) contents = contents.replaceAll('import.meta.url', JSON.stringify(pathToFileURL(args.path).href))
      if (/\b__(dirname|filename)\b/.test(contents)) {
        contents = `var __dirname = ${JSON.stringify(dirname(args.path))}, __filename = ${JSON.stringify(args.path)};\n${contents}`
      }
      return { contents, loader: 'js' }
    })
  },
}

/** Makes the bundle unless it is current; resolves with whether it was made. */
export async function ensureTapBundle() {
  if (tapBundleCurrent()) return false
  const { build } = await import('esbuild')
  mkdirSync(dirname(TAP_BUNDLE), { recursive: true })
  const tmp = `${TAP_BUNDLE}.${process.pid}.mjs`
  try {
    const { metafile } = await build({
      absWorkingDir: ROOT,
      entryPoints: ['tap'],
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      outfile: tmp,
      metafile: true,
      logLevel: 'silent',
      // Bundled CommonJS calls require(); an ES module has none of its own.
      banner: { js: "import { createRequire as __tapRequire } from 'node:module'; const require = __tapRequire(import.meta.url);" },
      plugins: [ownLocations],
    })
    const inputs = {}
    for (const input of Object.keys(metafile.inputs)) {
      const path = join(ROOT, input)
      inputs[path] = stat(path)
    }
    renameSync(tmp, TAP_BUNDLE)
    writeFileSync(STAMP, JSON.stringify(inputs))
    return true
  } finally {
    rmSync(tmp, { force: true })
  }
}
