#!/usr/bin/env node
// `npm test`: the build, then tap; the static checks (types, Biome, the layering rules), the
// filling of the test processes' TypeScript cache (scripts/ts-loader/warm.mjs) and, when .taprc's
// plugins need one, tap's rebuild of its Test class run beside them.
// Each check uses one core for 5-25 s and the build one core for ~20 s: on a 2-core machine the
// other core sat idle meanwhile, so the checks start with the build, not after it. Their output is
// held back and printed after tap's, each under its name; the exit code is non-zero when any of
// them, the build or tap fails; coverage is reported and its floor checked last. A failed build
// runs no test (tap is not started: .ci/run then counts the run as failed).
// npm-run-all and concurrently would run the commands, but they interleave the outputs line by line
// (or prefix every line), which would bury tap's summary that .ci/run reads; this is ~60 lines.
// Not named test.mjs: tap's default selection takes such a name for a test file (.taprc's include).
import { spawn } from 'node:child_process'
import { rmSync } from 'node:fs'
import { setPriority } from 'node:os'
import { fileURLToPath } from 'node:url'
import { ensureTapBundle, TAP_BUNDLE } from './ts-loader/tap-bundle.mjs'

const here = (path) => fileURLToPath(new URL(path, import.meta.url))

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
const checks = [
  ['typecheck', [npm, ['run', '--silent', 'typecheck']]],
  ['lint', [npm, ['run', '--silent', 'lint']]],
  ['lint:deps', [npm, ['run', '--silent', 'lint:deps']]],
]

/**
 * Runs a command with its output captured; resolves with the exit code and the output. A `niced`
 * command yields the CPU to the build and the tests (their children inherit the niceness): the
 * build is on the path to the end of the run, a check is not until tap ends.
 */
function captured(cmd, args, niced = false) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    if (niced && child.pid) {
      try {
        setPriority(child.pid, 10)
      } catch {
        /* not permitted here: it only runs at the same priority */
      }
    }
    const out = []
    child.stdout.on('data', (b) => out.push(b))
    child.stderr.on('data', (b) => out.push(b))
    child.once('error', (e) => resolve({ code: 1, output: `${e.message}\n` }))
    child.once('close', (code, signal) => resolve({ code: code ?? (signal ? 1 : 0), output: Buffer.concat(out).toString() }))
  })
}

function inherited(cmd, args) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: 'inherit' })
    child.once('error', () => resolve(1))
    child.once('close', (code, signal) => resolve(code ?? (signal ? 1 : 0)))
  })
}

/**
 * Whether tap must rebuild its Test class for .taprc's plugins (it does so itself at start, ~7 s of
 * a core before the first test, after every `npm ci`); tap's own config and the built class say.
 * Any doubt (another tap version's layout) leaves it to tap.
 */
async function tapBuildNeeded() {
  try {
    const { TapConfig } = await import('@tapjs/config')
    const config = await TapConfig.load()
    const { signature } = await import('@tapjs/test')
    return typeof signature === 'string' && config.pluginSignature !== signature
  } catch {
    return false
  }
}

const running = checks.map(([name, [cmd, args]]) => captured(cmd, args, true).then((r) => ({ name, ...r })))
const warm = captured(process.execPath, [here('./ts-loader/warm.mjs')])
const building = inherited(process.execPath, [here('./build.mjs')])
// Beside the project's build rather than after it, where tap would do it.
const tapBuild = (await tapBuildNeeded()) ? captured(here('../node_modules/.bin/tap'), ['build']) : undefined
const build = await building
const warmed = await warm
if (warmed.output) process.stderr.write(warmed.output)
const tapBuilt = await tapBuild
if (tapBuilt && tapBuilt.code !== 0) process.stderr.write(`npm test: tap build failed (exit ${tapBuilt.code}); tap tries again\n${tapBuilt.output}`)
// After tap's build: the Test class it makes is part of the bundle. Without a bundle the test processes load tap's modules.
await ensureTapBundle().catch((e) => {
  rmSync(TAP_BUNDLE, { force: true })
  process.stderr.write(`npm test: tap's bundle could not be made (${e.message.split('\n')[0]}); test processes load tap's modules\n`)
})
if (build !== 0) {
  for (const r of await Promise.all(running)) process.stdout.write(`\n# ${r.name}: ${r.code === 0 ? 'ok' : `FAILED (exit ${r.code})`}\n${r.output}`)
  console.error('npm test: the build failed; no test ran')
  process.exit(1)
}
// dist/ is now built from these sources and tap's bundle made: test processes load the server's bundle
// instead of its ~300 modules (test/helpers/lab.ts serverModule), and tap's (ts-loader/register.mjs).
process.env.TROVE_TEST_BUNDLES = '1'
const tapCode = await inherited(here('../node_modules/.bin/tap'), process.argv.slice(2))
let failed = tapCode !== 0
for (const r of await Promise.all(running)) {
  process.stdout.write(`\n# ${r.name}: ${r.code === 0 ? 'ok' : `FAILED (exit ${r.code})`}\n${r.output}`)
  if (r.code !== 0) failed = true
}
if (tapCode === 0) {
  // A larger young generation: the report parses ~1.3 GB of JSON, and scavenges were most of its GC (~6 CPU-s less).
  failed = (await inherited(process.execPath, ['--max-semi-space-size=64', here('./coverage-report.mjs')])) !== 0 || failed
  failed = (await inherited(process.execPath, [here('./coverage-floor.mjs')])) !== 0 || failed
}
process.exit(failed ? 1 : 0)
