// Set-up times of the lab network and firewall parts of issue 14's sandbox (src/server/compute/
// network.ts, firewall.ts), against the real tools: a lab bridge, BENCH_RUNS instances attached
// (netns + CNI bridge/host-local), the firewall applied for all of them in one nft transaction,
// then detached and the lab destroyed. Prints the figures (the lead gathers the sandbox parts into
// BENCHMARKS.md). Needs root. Run with `node bench/sandbox-network.mjs` after `npm run build`.
import { mkdtempSync, rmSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { attachInstance, destroyLabNetwork, detachInstance, ensureLabNetwork } from '../dist/server/compute/network.js'
import { applyFirewall, removeFirewall } from '../dist/server/compute/firewall.js'
import { machine, median } from './lib.mjs'

const RUNS = Number(process.env.BENCH_RUNS ?? 10)
const run = randomBytes(4).toString('hex')
const dir = mkdtempSync('/tmp/tv-bench-net.')
const ms = async (f) => {
  const t0 = performance.now()
  const r = await f()
  return [performance.now() - t0, r]
}
let lab
try {
  const [ensure, l] = await ms(() => ensureLabNetwork({ labId: `b${run}`, dir }))
  lab = l
  const attach = []
  const atts = []
  for (let i = 0; i < RUNS; i++) {
    const [t, a] = await ms(() => attachInstance(lab, `i${i}x${run}`))
    attach.push(t)
    atts.push(a)
  }
  const rules = {
    instances: atts.map((a, i) => ({ address: a.address, hostIf: a.hostIf, ports: [6379], allowedCidrs: i % 2 ? [`${lab.gateway}/32`] : [], peers: atts.slice(0, 2).map((p) => p.address) })),
    hostPorts: [1883, 8080],
  }
  const [apply] = await ms(() => applyFirewall(lab, rules))
  const detach = []
  for (let i = 0; i < RUNS; i++) detach.push((await ms(() => detachInstance(lab, `i${i}x${run}`)))[0])
  const [remove] = await ms(() => removeFirewall(lab))
  const [destroy] = await ms(() => destroyLabNetwork(lab))
  const f = (x) => `${x.toFixed(0)} ms`
  console.log(machine())
  console.log(`lab network ensure (claim /24, bridge, gateway): ${f(ensure)}`)
  console.log(`attach instance (netns + CNI ADD), median of ${RUNS}: ${f(median(attach))} (max ${f(Math.max(...attach))})`)
  console.log(`firewall apply, ${RUNS} instances, one transaction: ${f(apply)}`)
  console.log(`detach instance (CNI DEL + netns del), median of ${RUNS}: ${f(median(detach))} (max ${f(Math.max(...detach))})`)
  console.log(`firewall remove: ${f(remove)}; lab network destroy: ${f(destroy)}`)
} finally {
  if (lab) {
    await removeFirewall(lab).catch(() => {})
    await destroyLabNetwork(lab).catch(() => {})
  }
  rmSync(dir, { recursive: true, force: true })
}
