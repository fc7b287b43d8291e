// `trove instance list` next to `openstack database instance list` against the same lab (goal: <= 0.15x).
import { spawn, execFileSync } from 'node:child_process'
import { chmodSync, mkdtempSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { median, machine, writeSection, ROOT } from './lib.mjs'

const RUNS = Number(process.env.BENCH_RUNS ?? 7)

function startServer(dataDir) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, 'bin/trove'), 'server', '--data-dir', dataDir, '--port', '0', '--rate-limits', 'none'], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    const on = (b) => {
      out += b
      if (/listening on/.test(out) && out.includes('use it:')) resolve(child)
    }
    child.stdout.on('data', on)
    child.stderr.on('data', on)
    child.once('exit', (c) => reject(new Error(`server exited ${c}: ${out}`)))
  })
}

function timed(cmd, args, env) {
  const t0 = performance.now()
  execFileSync(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] })
  return performance.now() - t0
}

const root = mkdtempSync('/tmp/tc.')
chmodSync(root, 0o711)
const dataDir = join(root, 'lab')
const server = await startServer(dataDir)
try {
  const env = { PATH: process.env.PATH, HOME: root, OS_CLIENT_CONFIG_FILE: join(dataDir, 'clouds.yaml'), OS_CLOUD: 'trove-lab' }
  const trove = [process.execPath, [join(ROOT, 'bin/trove'), 'instance', 'list']]
  const openstack = ['openstack', ['database', 'instance', 'list']]
  const cold = { ...env, TROVE_NO_TOKEN_CACHE: '1' }
  timed(...trove, env)
  timed(...openstack, env)
  timed(...trove, cold) // warm the page cache (and the token cache)
  const t = []
  const o = []
  const c = []
  for (let i = 0; i < RUNS; i++) {
    t.push(timed(...trove, env))
    o.push(timed(...openstack, env))
    c.push(timed(...trove, cold))
  }
  const mt = median(t)
  const mo = median(o)
  const mc = median(c)
  const GOAL = 0.15
  const osVersion = execFileSync('openstack', ['--version'], { env, stdio: ['ignore', 'pipe', 'pipe'] })
    .toString()
    .trim()
    .split(/\s+/)
    .pop()
  const verdict = (ms) => `<= ${GOAL} (issue 5/7): ${ms / mo <= GOAL ? 'met' : 'not met'}`
  const text = [
    `Command: \`BENCH_ONLY=cli node bench/run.mjs\` (bench/cli.mjs), ${new Date().toISOString().slice(0, 10)}, ${machine()}. Median of ${RUNS} alternating runs, each a`,
    'fresh process that reads clouds.yaml (password auth) and lists the instances of an empty project.',
    'Like for like: openstack logs in to Keystone on every run, and so does trove with TROVE_NO_TOKEN_CACHE=1 (a login',
    'and the list: two requests each). By default trove reuses the token it cached (~/.cache/trove/tokens, 0600) until',
    "near expiry, so its runs make one API request: that row is trove's own figure, not a comparison of equals.",
    "trove's fast path for common read commands loads neither commander nor the yaml library, and the SDK uses node:http.",
    '',
    '| command | authentication | wall time | ratio | goal |',
    '|---|---|---|---|---|',
    `| openstack database instance list (python-openstackclient ${osVersion}) | Keystone login each run | ${(mo / 1000).toFixed(3)} s | 1.00 | |`,
    `| trove instance list, TROVE_NO_TOKEN_CACHE=1 (like for like) | Keystone login each run | ${(mc / 1000).toFixed(3)} s | ${(mc / mo).toFixed(2)} | ${verdict(mc)} |`,
    `| trove instance list (default) | token from the cache | ${(mt / 1000).toFixed(3)} s | ${(mt / mo).toFixed(2)} | ${verdict(mt)} |`,
  ].join('\n')
  writeSection('cli', 'CLI start-up: trove instance list next to the openstack client', text)
  process.stdout.write(text + '\n')
} finally {
  server.kill('SIGTERM')
  await new Promise((r) => server.once('exit', r))
  rmSync(root, { recursive: true, force: true })
}
