// `npm run bench`: every benchmark script, one after the other. A script that fails is reported and
// the others still run (exit code 1 at the end). BENCH_ONLY=api,rpc runs only the scripts named.
const scripts = [
  './create.mjs',
  './wait.mjs',
  './cli.mjs',
  './api.mjs',
  './auth-flood.mjs',
  './rpc.mjs',
  './agent-ops.mjs',
  './heartbeats.mjs',
  './mqtt-limits.mjs',
  './memory.mjs',
  './scale.mjs',
  './replication.mjs',
  './backup.mjs',
  './binlog-archive.mjs',
  './retention.mjs',
  './recovery.mjs',
  './soak.mjs',
]
const only = process.env.BENCH_ONLY?.split(',').map((s) => `./${s.replace(/^\.\//, '').replace(/\.mjs$/, '')}.mjs`)
const started = performance.now()
const failed = []
for (const s of scripts) {
  if (only && !only.includes(s)) continue
  process.stdout.write(`== ${s}\n`)
  const t0 = performance.now()
  try {
    await import(s)
  } catch (e) {
    failed.push(s)
    process.stderr.write(`${s} failed: ${e?.stack ?? e}\n`)
  }
  process.stdout.write(`== ${s}: ${((performance.now() - t0) / 1000).toFixed(0)} s\n`)
}
process.stdout.write(`== all: ${((performance.now() - started) / 60_000).toFixed(1)} min${failed.length ? `; failed: ${failed.join(' ')}` : ''}\n`)
if (failed.length) process.exitCode = 1
