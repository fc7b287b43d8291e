// Where the test suite's CPU goes (issue 11: the suite under 15 minutes on 2 cores is bound by CPU): runs a
// command (default `npm test`) under BSD process accounting (every exited process's CPU, pid, parent and start)
// and the kernel's exec events (forkstat: every process's command line), joins the two on pid and start time,
// and prints the CPU-seconds per kind of process (test files, agents, servers, trove commands, each engine's
// processes...) and per test file (each process counted to the test file it descends from).
// Needs root and Debian's `acct` and `forkstat` (apt-get install acct forkstat). Processes of anything else
// running on the machine meanwhile are counted too (they show as "?" in the per-file table): run it alone.
// Usage: `node bench/suite-cpu.mjs [command...]`; BENCH_SUITE_CPU_KEEP=DIR keeps the raw files there.
// Written by hand: no packaged tool joins accounting records to command lines (acct keeps only 16 bytes of
// the name, and every Node process is "node").
import { execFileSync, spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const command = process.argv.length > 2 ? process.argv.slice(2) : ['npm', 'test']
const keep = process.env.BENCH_SUITE_CPU_KEEP
const dir = keep ?? mkdtempSync(join(tmpdir(), 'suite-cpu-'))
if (keep) mkdirSync(keep, { recursive: true })
const pacct = join(dir, 'pacct')
const execLog = join(dir, 'exec.log')
writeFileSync(pacct, '')

const forkstat = spawn('forkstat', ['-l', '-e', 'exec'], { stdio: ['ignore', 'pipe', 'ignore'] })
const lines = []
forkstat.stdout.on('data', (b) => lines.push(b))
execFileSync('accton', [pacct], { stdio: 'ignore' })
const t0 = Date.now()
const code = await new Promise((resolve) => spawn(command[0], command.slice(1), { stdio: 'inherit' }).once('close', (c) => resolve(c ?? 1)))
const wall = (Date.now() - t0) / 1000
execFileSync('accton', ['off'], { stdio: 'ignore' })
forkstat.kill()
writeFileSync(execLog, Buffer.concat(lines))

// exec events: "HH:MM:SS exec PID  command line"
const day = new Date().toISOString().slice(0, 10)
/** @type {Map<number, Array<{ t: number, cmd: string }>>} */
const execs = new Map()
for (const line of readFileSync(execLog, 'utf8').split('\n')) {
  const m = /^(\d\d:\d\d:\d\d) exec\s+(\d+)\s+(.*)$/.exec(line)
  if (!m) continue
  const pid = Number(m[2])
  if (!execs.has(pid)) execs.set(pid, [])
  execs.get(pid).push({ t: Date.parse(`${day}T${m[1]}Z`) / 1000, cmd: m[3].trim() })
}

// dump-acct: comm|v3|utime|stime|etime|uid|gid|mem|io|pid|ppid|flags|exit|tty|start (times in 1/100 s)
const records = []
for (const line of execFileSync('dump-acct', [pacct], { maxBuffer: 1 << 30 })
  .toString()
  .split('\n')) {
  const f = line.split('|').map((x) => x.trim())
  if (f.length < 15) continue
  const begin = Date.parse(`${f[14]} UTC`) / 1000
  if (Number.isNaN(begin)) continue
  records.push({ comm: f[0], cpu: (Number(f[2]) + Number(f[3])) / 100, et: Number(f[4]) / 100, pid: Number(f[9]), ppid: Number(f[10]), begin })
}

/** The command line of the record's last exec within its life (pids are reused: the start time tells them apart). */
const cmdOf = (r) => {
  let cmd = ''
  for (const e of execs.get(r.pid) ?? []) if (e.t >= r.begin - 2 && e.t <= r.begin + r.et + 2) cmd = e.cmd
  return cmd
}
const kindOf = (r) => {
  const c = r.cmd
  if (!/node/.test(r.comm) && !/(^|\/)node\s/.test(c)) return r.comm
  if (/ts-loader/.test(c) && /test\/\S+\.ts/.test(c)) return 'node: test file'
  if (/\sagent\s/.test(c)) return 'node: agent'
  if (/\sserver\s|server\/bundle/.test(c)) return 'node: trove server'
  if (/bin\/trove|cli-bundle/.test(c)) return 'node: trove command'
  for (const [re, k] of [
    [/tsc/, 'node: tsc'],
    [/biome/, 'node: biome'],
    [/depcruise/, 'node: dependency-cruiser'],
    [/coverage/, 'node: coverage'],
    [/tap/, 'node: tap'],
    [/build\.mjs|esbuild/, 'node: build'],
    [/npm/, 'node: npm'],
  ])
    if (re.test(c)) return k
  return 'node: other'
}
const byPid = new Map()
for (const r of records) {
  r.cmd = cmdOf(r)
  r.kind = kindOf(r)
  if (!byPid.has(r.pid)) byPid.set(r.pid, [])
  byPid.get(r.pid).push(r)
}
/** The test file a record descends from: up the parents alive at its start. */
const fileOf = (r, depth = 0) => {
  if (r.kind === 'node: test file') return /(test\/\S+\.ts)/.exec(r.cmd)[1]
  if (depth > 10) return '?'
  const parent = (byPid.get(r.ppid) ?? []).find((p) => p.begin <= r.begin + 1 && p.begin + p.et >= r.begin - 1)
  return parent ? fileOf(parent, depth + 1) : '?'
}
const sum = (map, key, cpu) => map.set(key, (map.get(key) ?? 0) + cpu)
const kinds = new Map()
const counts = new Map()
const files = new Map()
for (const r of records) {
  sum(kinds, r.kind, r.cpu)
  sum(counts, r.kind, 1)
  sum(files, fileOf(r), r.cpu)
}
const total = records.reduce((a, r) => a + r.cpu, 0)
const top = (map, n) => [...map].sort((a, b) => b[1] - a[1]).slice(0, n)
console.log(`\n${command.join(' ')}: exit ${code}, ${wall.toFixed(0)} s wall, ${total.toFixed(0)} CPU-s in ${records.length} exited processes`)
console.log('\nCPU-s   processes  kind')
for (const [k, v] of top(kinds, 30)) console.log(`${v.toFixed(1).padStart(7)} ${String(counts.get(k)).padStart(10)}  ${k}`)
console.log('\nCPU-s  test file (itself and what it started)')
for (const [k, v] of top(files, 40)) console.log(`${v.toFixed(1).padStart(7)}  ${k}`)
// A process's CPU as a cost per start plus a share of a core while it lives (least squares over the kind's
// processes): what a shorter test or one process fewer saves, for the kinds that live long or start often.
console.log('\nper start  while living  processes  kind (CPU-s = per start + share x lifetime)')
for (const [k] of top(kinds, 30)) {
  const pts = records.filter((r) => r.kind === k)
  if (!k.startsWith('node: ') || pts.length < 5) continue
  const n = pts.length
  const [sx, sy, sxx, sxy] = pts.reduce((a, r) => [a[0] + r.et, a[1] + r.cpu, a[2] + r.et * r.et, a[3] + r.et * r.cpu], [0, 0, 0, 0])
  const share = n * sxx - sx * sx > 0 ? (n * sxy - sx * sy) / (n * sxx - sx * sx) : 0
  console.log(`${((sy - share * sx) / n).toFixed(2).padStart(9)}  ${`${(share * 100).toFixed(1)}%`.padStart(12)}  ${String(n).padStart(9)}  ${k}`)
}
if (!keep) rmSync(dir, { recursive: true, force: true })
process.exitCode = code
