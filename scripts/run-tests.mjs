#!/usr/bin/env node
// `npm test` after the build: the static checks (types, Biome, the layering rules) run beside tap
// instead of before it. Each of them uses one core for 5-25 s; on a 2-core machine the other core
// sat idle meanwhile. Their output is held back and printed after tap's, each under its name; the
// exit code is non-zero when any of them or tap fails; coverage is reported and its floor checked last.
// npm-run-all and concurrently would run the commands, but they interleave the outputs line by line
// (or prefix every line), which would bury tap's summary that .ci/run reads; this is ~40 lines.
// Not named test.mjs: tap's default selection takes such a name for a test file (.taprc's include).
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const here = (path) => fileURLToPath(new URL(path, import.meta.url))

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
const checks = [
  ['typecheck', [npm, ['run', '--silent', 'typecheck']]],
  ['lint', [npm, ['run', '--silent', 'lint']]],
  ['lint:deps', [npm, ['run', '--silent', 'lint:deps']]],
]

/** Runs a command with its output captured; resolves with the exit code and the output. */
function captured(cmd, args) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] })
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

const running = checks.map(([name, [cmd, args]]) => captured(cmd, args).then((r) => ({ name, ...r })))
const tapCode = await inherited(here('../node_modules/.bin/tap'), process.argv.slice(2))
let failed = tapCode !== 0
for (const r of await Promise.all(running)) {
  process.stdout.write(`\n# ${r.name}: ${r.code === 0 ? 'ok' : `FAILED (exit ${r.code})`}\n${r.output}`)
  if (r.code !== 0) failed = true
}
if (tapCode === 0) {
  failed = (await inherited(process.execPath, [here('./coverage-report.mjs')])) !== 0 || failed
  failed = (await inherited(process.execPath, [here('./coverage-floor.mjs')])) !== 0 || failed
}
process.exit(failed ? 1 : 0)
