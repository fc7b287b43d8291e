#!/usr/bin/env node
// Builds src/ into a fresh sibling directory `.dist.<id>` and then points the `dist`
// symlink at it with one rename(2), so a lab, an agent or a CLI run that is loading
// modules never sees a half-written dist/ (tsc writes files one by one). Processes
// resolve modules through their real path, so a running lab keeps loading from the
// build it started with; the two previous builds are kept for such labs.
// When nothing tsc reads changed since the current build, nothing is rebuilt.
// tsc has no atomic output mode and no up-to-date check for a full build (its
// incremental mode still rewrites files in place), hence this small script.
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { cpSync, existsSync, lstatSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { dirname, join, relative, sep } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
/**
 * The compiler: TypeScript 7, the native one (package.json's `typescript-native`, an alias of typescript@7), builds
 * src/ in ~3 CPU-s where TypeScript 5.9's tsc took ~12 (issue 11: the build is on the path to the suite's first test).
 * `typescript` stays 5.9: tap's build (tshy) and dependency-cruiser load its JavaScript API, which 7 does not have.
 */
const TSC_PACKAGE = 'node_modules/typescript-native'
const dist = join(root, 'dist')
const KEEP = 3

/** A digest of everything the build reads: sources, tsconfig, the compiler's version, this script. */
function sourceDigest() {
  const h = createHash('sha256')
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = join(dir, e.name)
      if (e.isDirectory()) walk(p)
      else {
        h.update(relative(root, p))
        h.update('\0')
        h.update(readFileSync(p))
        h.update('\0')
      }
    }
  }
  walk(join(root, 'src'))
  h.update(readFileSync(join(root, 'tsconfig.json')))
  // This script too: how it bundles (esbuild's options) is part of the build.
  h.update(readFileSync(fileURLToPath(import.meta.url)))
  try {
    h.update(readFileSync(join(root, TSC_PACKAGE, 'package.json')))
  } catch {
    /* tsc's own error follows */
  }
  return h.digest('hex')
}

/**
 * The bundles' source maps: a .map beside each, composed from tsc's maps, so they name src/*.ts, and
 * not named in the bundle (esbuild's `external`). Node reads a named map in every process that loads
 * the file whenever coverage is collected, and writes it into that process's coverage file: in a
 * full `npm test` two thirds of the ~1.5 GB of coverage was these few maps, again and again, and each
 * `trove` command spent ~0.03 CPU-s on them (issue 11). scripts/coverage-report.mjs adds them once, so
 * that the coverage of the servers, agents and commands that tests start is counted on src/. The
 * sources are on disk: their text is left out.
 */
const sourceMaps = { sourcemap: 'external', sourcesContent: false }

/**
 * The agent as one file (dist/agent/bundle.js, with mqtt.js and its ~95 CommonJS files inside):
 * every instance starts an agent, and Node 20 spends most of an agent's start resolving and
 * loading ~130 small modules one by one (issue 11: create -> ACTIVE). esbuild does the bundling;
 * without it (not installed) the agent runs from its modules as before (src/cli/main.ts).
 */
async function bundleAgent(dir, esbuild) {
  if (!existsSync(join(dir, 'agent/index.js'))) return // a tree without an agent (the build's own test)
  await esbuild.build({
    entryPoints: [join(dir, 'agent/index.js')],
    outfile: join(dir, 'agent/bundle.js'),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    logLevel: 'warning',
    // The engines' drivers stay outside: an agent loads only its own engine's, on first use.
    external: ['pg', 'mariadb', '@redis/client'],
    ...sourceMaps,
    // mqtt.js is CommonJS: its require() of Node built-ins needs a real require in an ES module.
    banner: { js: "import { createRequire as __troveRequire } from 'node:module'; const require = __troveRequire(import.meta.url);" },
  })
}

/**
 * The server as one file (dist/server/bundle.js, with fastify, aedes, ajv and the other packages
 * inside), for the same reason: every lab and every e2e test starts `trove server`, and loading
 * the server's modules and packages one by one cost most of a start's CPU (issue 11, BENCHMARKS).
 * better-sqlite3 stays outside (a native addon found through `bindings`). The server's own
 * modules find files by their own place (`new URL('./rules/x.json', import.meta.url)`, bin/trove
 * for the agents): in each of them, import.meta.url becomes the URL of the module it was, so those
 * paths mean in the bundle what they meant in dist/ (esbuild has no per-module import.meta.url).
 */
async function bundleServer(dir, esbuild) {
  if (!existsSync(join(dir, 'server/index.js'))) return
  const outdir = join(dir, 'server')
  await esbuild.build({
    entryPoints: [join(dir, 'server/index.js')],
    outfile: join(outdir, 'bundle.js'),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    logLevel: 'warning',
    external: ['better-sqlite3'],
    ...sourceMaps,
    // Packages written in CommonJS require() Node built-ins: that needs a real require in an ES module.
    banner: { js: "import { createRequire as __troveRequire } from 'node:module'; const require = __troveRequire(import.meta.url);" },
    plugins: [
      {
        name: 'module-urls',
        setup(build) {
          build.onLoad({ filter: /\.js$/ }, (args) => {
            if (!args.path.startsWith(dir + sep)) return undefined
            const text = readFileSync(args.path, 'utf8')
            if (!text.includes('import.meta.url')) return undefined
            const own = `new URL(${JSON.stringify(`./${relative(outdir, args.path).split(sep).join('/')}`)}, import.meta.url).href`
            return { contents: text.replaceAll('import.meta.url', own), loader: 'js' }
          })
        },
      },
    ],
  })
}

/**
 * The CLI as a few files (dist/cli-bundle/: main.js and the chunks it imports on demand), for
 * the same reason: every `trove` command is a new process, and resolving and loading its modules
 * one by one cost ~70 ms of a ~180 ms `trove --help` here (issue 11). The bundle sits one level
 * under dist/, as cli/ does, so that the relative paths its modules use at run time
 * (`../../package.json`, `../agent/bundle.js`) and its imports of the server's and the agent's
 * entry points (kept outside: `trove server` loads the server from its modules) mean the same.
 * Packages stay in node_modules. bin/trove falls back to dist/cli/main.js where there is no bundle.
 */
async function bundleCli(dir, esbuild) {
  if (!existsSync(join(dir, 'cli/main.js'))) return
  const outdir = join(dir, 'cli-bundle')
  const outside = [join(dir, 'server') + sep, join(dir, 'agent') + sep]
  await esbuild.build({
    entryPoints: [join(dir, 'cli/main.js')],
    outdir,
    bundle: true,
    splitting: true,
    chunkNames: '[name]-[hash]',
    platform: 'node',
    format: 'esm',
    target: 'node20',
    logLevel: 'warning',
    packages: 'external',
    ...sourceMaps,
    plugins: [
      {
        name: 'outside-entry-points',
        setup(build) {
          build.onResolve({ filter: /^\.\.?\// }, (args) => {
            const target = join(args.resolveDir, args.path)
            if (!outside.some((o) => target.startsWith(o))) return undefined
            return { path: relative(outdir, target).replace(/^(?!\.)/, './'), external: true }
          })
        },
      },
    ],
  })
}

async function loadEsbuild() {
  try {
    return await import('esbuild')
  } catch {
    console.error('trove build: esbuild is not installed: the agent, the CLI and the server run unbundled (slower start)')
    return undefined
  }
}

const digest = sourceDigest()
const force = process.argv.includes('--force')
/** A build made while esbuild could not be loaded (npm ci's prepare, for one) lacks the bundles: redo it once esbuild loads. */
async function bundleMissing() {
  const agentMissing = existsSync(join(dist, 'agent/index.js')) && !existsSync(join(dist, 'agent/bundle.js'))
  const cliMissing = existsSync(join(dist, 'cli/main.js')) && !existsSync(join(dist, 'cli-bundle/main.js'))
  const serverMissing = existsSync(join(dist, 'server/index.js')) && !existsSync(join(dist, 'server/bundle.js'))
  if (!agentMissing && !cliMissing && !serverMissing) return false
  try {
    await import('esbuild')
    return true
  } catch {
    return false
  }
}
try {
  if (!force && readFileSync(join(dist, '.source-digest'), 'utf8') === digest && !(await bundleMissing())) process.exit(0)
} catch {
  /* no build yet */
}

const id = `${Date.now().toString(36)}-${process.pid}`
const out = join(root, `.dist.${id}`)
const tsc = join(root, TSC_PACKAGE, 'bin/tsc')
if (!existsSync(tsc)) {
  console.error('trove build: typescript is not installed: run bash scripts/setup.sh (or npm ci)')
  process.exit(1)
}
const r = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.json'), '--outDir', out], { stdio: 'inherit' })
if (r.status !== 0) {
  rmSync(out, { recursive: true, force: true })
  process.exit(r.status ?? 1)
}
// Data files that modules read at run time (tsc copies only JSON that is imported).
cpSync(join(root, 'src'), out, { recursive: true, filter: (p) => !p.endsWith('.ts') && !p.endsWith('.tsx') })
const esbuild = await loadEsbuild()
if (esbuild) {
  await bundleAgent(out, esbuild)
  await bundleCli(out, esbuild)
  await bundleServer(out, esbuild)
}
writeFileSync(join(out, '.source-digest'), digest)

// An old in-place dist/ directory (before this script) moves aside first; a symlink is replaced atomically.
let st
try {
  st = lstatSync(dist)
} catch {
  /* none */
}
if (st && !st.isSymbolicLink()) renameSync(dist, join(root, `.dist.old-${id}`))
const link = join(root, `.dist-link.${id}`)
symlinkSync(`.dist.${id}`, link)
renameSync(link, dist)

// Older builds: keep the newest KEEP (running labs may still load from them).
const builds = readdirSync(root)
  .filter((n) => n.startsWith('.dist.'))
  .map((n) => ({ n, t: lstatSync(join(root, n)).mtimeMs }))
  .sort((a, b) => b.t - a.t)
for (const b of builds.slice(KEEP)) rmSync(join(root, b.n), { recursive: true, force: true })
