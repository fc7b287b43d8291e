import { execInSandbox } from '../../src/server/compute/sandbox.js'
import type { SandboxedCompute } from '../../src/server/compute/sandboxed.js'

/** One request of a shell inside a sandbox to the lab's object store, with its agent's credential. */
export interface InsideRequest {
  method: string
  path: string
  /** Bytes of body to send (chunked); none when absent. */
  body?: number
  /** A declared Content-Length. */
  length?: number
  headers?: Record<string, string>
  auth?: 'none' | 'wrong'
}

/**
 * Runs node inside the instance's sandbox as its user (runc exec: its namespaces, its uid) with a
 * script that reads the agent's bootstrap (its credentials and the store's URL) and makes the given
 * requests; returns each one's HTTP status (or the error code). The attacker's view: a shell as the
 * instance's user holding what its agent holds.
 */
export async function fromInside(c: SandboxedCompute, id: string, reqs: InsideRequest[]): Promise<Array<number | string>> {
  const script = `
const https = require('node:https'); const fs = require('node:fs')
const b = JSON.parse(fs.readFileSync('/var/lib/trove-instance/agent.json', 'utf8'))
const u = new URL(b.objectStore.url)
const reqs = JSON.parse(process.argv[1])
const one = (r) => new Promise((resolve) => {
  const headers = { ...(r.headers || {}) }
  if (r.auth !== 'none') headers.Authorization = 'Basic ' + Buffer.from(b.mqtt.username + ':' + (r.auth === 'wrong' ? 'x' + b.mqtt.password : b.mqtt.password)).toString('base64')
  if (r.length !== undefined) headers['Content-Length'] = String(r.length)
  const q = https.request({ method: r.method, host: u.hostname, port: u.port, path: r.path, ca: b.mqtt.ca, headers, agent: false }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode)) })
  q.on('error', (e) => resolve(e.code || e.message))
  if (r.body) { const chunk = Buffer.alloc(65536, 120); let left = r.body; const pump = () => { while (left > 0) { const n = Math.min(left, chunk.length); left -= n; if (!q.write(chunk.subarray(0, n))) return q.once('drain', pump) } q.end() }; pump() }
  else q.end()
})
;(async () => { const out = []; for (const r of reqs) out.push(await one(r)); process.stdout.write(JSON.stringify(out)) })()
`
  const r = await execInSandbox(c.runtime, id, [process.execPath, '-e', script, JSON.stringify(reqs)], 120_000)
  if (r.code !== 0) throw new Error(`node in the sandbox failed: ${r.stderr}`)
  return JSON.parse(r.stdout) as Array<number | string>
}
