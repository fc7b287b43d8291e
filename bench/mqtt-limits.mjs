// The oversized-CONNECT attack on the broker (issue 11): BENCH_MQTT_CONNS (8) connections each announce a
// CONNECT of BENCH_MQTT_MB (250) MB and stream it as fast as the broker takes it. Measured: the server
// process's RSS (from /proc) before, at its peak, and 5 s after the attackers stopped; bytes each attacker
// wrote before the broker closed its connection (socket buffers included).
// The server is bench/lab-server.mjs in its own process. BENCH_MQTT_DIST=/path/to/dist runs it against
// another build (e.g. the code before the limits, which spoke plain TCP: then the attack is sent in clear).
// Run with `npm run bench` (BENCH_ONLY=mqtt-limits) or `node bench/mqtt-limits.mjs` after a build.
import { fork } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import tls from 'node:tls'
import { join } from 'node:path'
import { machine, sleep, writeSection, ROOT } from './lib.mjs'
import { rssOf, stopChild, today, verbose, withRoot } from './harness.mjs'

const CONNS = Number(process.env.BENCH_MQTT_CONNS ?? 8)
const MB = Number(process.env.BENCH_MQTT_MB ?? 250)
const DIST = process.env.BENCH_MQTT_DIST

function startServer(dataDir) {
  // lab-server.mjs imports ../dist: for another build, a copy of it beside that dist.
  let script = join(ROOT, 'bench/lab-server.mjs')
  if (DIST) {
    mkdirSync(join(DIST, '..', 'bench'), { recursive: true })
    script = join(DIST, '..', 'bench', 'lab-server.mjs')
    writeFileSync(script, readFileSync(join(ROOT, 'bench/lab-server.mjs'), 'utf8'))
  }
  return new Promise((resolve, reject) => {
    const child = fork(script, [dataDir], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: { ...process.env, NODE_OPTIONS: '' } })
    child.on('message', (m) => {
      if (m.ready) resolve({ child, pid: child.pid, port: m.brokerPort })
    })
    child.once('exit', (c) => reject(new Error(`lab server exited ${c}`)))
  })
}

function dial(port, ca, onReady) {
  const s = ca ? tls.connect({ host: '127.0.0.1', port, ca }, onReady) : net.connect({ host: '127.0.0.1', port }, onReady)
  s.on('error', () => {})
  return s
}

/** One attacker: header, then MB of payload; resolves with the bytes the broker accepted before it closed. */
function attack(port, ca) {
  return new Promise((resolve) => {
    const len = MB * 1024 * 1024
    const header = Buffer.from([0x10, (len & 0x7f) | 0x80, ((len >> 7) & 0x7f) | 0x80, ((len >> 14) & 0x7f) | 0x80, (len >> 21) & 0x7f])
    const chunk = Buffer.alloc(1024 * 1024, 0x41)
    let sent = 0
    let closed = false
    const s = dial(port, ca, () => {
      s.write(header)
      const pump = () => {
        while (!closed && sent < len) {
          sent += chunk.length
          if (!s.write(chunk)) return void s.once('drain', pump)
        }
        if (!closed) resolve(sent) // all written: the broker holds it (the connection stays open)
      }
      pump()
    })
    s.on('close', () => {
      closed = true
      resolve(sent)
    })
    attack.sockets.push(s)
  })
}
attack.sockets = []

async function main() {
  await withRoot('tbm', async (root, onCleanup) => {
    const lab = await startServer(join(root, 'lab'))
    onCleanup(() => stopChild(lab.child))
    const caFile = join(root, 'lab', 'tls', 'ca.crt')
    const ca = existsSync(caFile) ? readFileSync(caFile, 'utf8') : undefined
    await sleep(1000)
    const before = rssOf(lab.pid)
    let peak = before
    const sampler = setInterval(() => {
      peak = Math.max(peak, rssOf(lab.pid))
    }, 100)
    const t0 = performance.now()
    const accepted = await Promise.all(Array.from({ length: CONNS }, () => attack(lab.port, ca)))
    const secs = (performance.now() - t0) / 1000
    await sleep(500)
    const during = rssOf(lab.pid)
    for (const s of attack.sockets) s.destroy()
    await sleep(5000)
    clearInterval(sampler)
    const after = rssOf(lab.pid)
    const mbIn = accepted.map((n) => (n / 1048576).toFixed(0))
    verbose(`RSS ${before.toFixed(0)} -> peak ${peak.toFixed(0)} -> ${after.toFixed(0)} MB; accepted MB per attacker: ${mbIn.join(', ')}`)
    const text = [
      `${CONNS} connections each announcing a ${MB} MB CONNECT and streaming it (${ca ? 'TLS' : 'plain TCP'}; ${DIST ? `build ${DIST}` : 'this build'}), ${today()}, ${machine()}:`,
      '',
      '| server RSS before | peak | with the attackers connected | 5 s after they left | MB each attacker wrote before the broker closed it | attack time |',
      '|---|---|---|---|---|---|',
      `| ${before.toFixed(0)} MB | ${peak.toFixed(0)} MB | ${during.toFixed(0)} MB | ${after.toFixed(0)} MB | ${[...new Set(mbIn)].join(', ')} | ${secs.toFixed(1)} s |`,
    ].join('\n')
    process.stdout.write(`${text}\n`)
    if (!DIST) writeSection('mqtt-limits', 'MQTT limits: the oversized-CONNECT attack (bench/mqtt-limits.mjs)', text)
  })
}

await main()
