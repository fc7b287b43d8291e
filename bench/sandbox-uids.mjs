// Set-up cost of the per-instance uid (src/server/compute/uids.ts, issue 14): allocate, the
// sandbox's passwd/group text, release, and uidOf (a resumed flow's scan), with N claims already
// in a claim directory of this run's own (default range 420000-429999). Needs `npm run build`.
// `node bench/sandbox-uids.mjs` (BENCH_UIDS=N, default 500).
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { allocateUid, passwdFor, releaseUid, uidOf } from '../dist/server/compute/uids.js'

const N = Number(process.env.BENCH_UIDS ?? 500)
const root = mkdtempSync('/tmp/tv-bench-uids.')
try {
  const o = { claimDir: join(root, 'claims') }
  const owners = Array.from({ length: N }, (_, i) => {
    const d = join(root, `i${i}`)
    mkdirSync(d)
    return d
  })
  const ms = (t0) => Number(process.hrtime.bigint() - t0) / 1e6
  let t0 = process.hrtime.bigint()
  const ids = owners.map((d) => allocateUid(d, o))
  const alloc = ms(t0) / N
  t0 = process.hrtime.bigint()
  for (const i of ids) passwdFor(i)
  const passwd = ms(t0) / N
  t0 = process.hrtime.bigint()
  uidOf(owners[N - 1], o)
  const scan = ms(t0)
  t0 = process.hrtime.bigint()
  for (const [i, d] of owners.entries()) releaseUid(ids[i], d, o)
  const release = ms(t0) / N
  console.log(`uids: allocate ${alloc.toFixed(2)} ms, passwdFor ${passwd.toFixed(3)} ms, release ${release.toFixed(2)} ms each; uidOf over ${N} claims ${scan.toFixed(1)} ms`)
} finally {
  rmSync(root, { recursive: true, force: true })
}
