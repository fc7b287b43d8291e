import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Test } from 'tap'

/** One request the fake Trove saw. */
export interface Seen { method: string; url: string; body: unknown; headers: IncomingMessage['headers'] }

/**
 * A throwaway HTTP server standing in for a real Trove endpoint (cli.md section 10.1:
 * auth type none + a fixed endpoint): records every request and answers with `route`.
 */
export async function fakeTrove(t: Test, route: (s: Seen) => { status?: number; body?: unknown; headers?: Record<string, string> }): Promise<{ url: string; seen: Seen[]; env: Record<string, string> }> {
  const seen: Seen[] = []
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let raw = ''
    req.on('data', (c) => { raw += c })
    req.on('end', () => {
      let body: unknown
      try { body = raw ? JSON.parse(raw) : undefined } catch { body = raw }
      const s: Seen = { method: req.method ?? '', url: (req.url ?? '').replace(/^\/v1\.0\/p1/, ''), body, headers: req.headers }
      seen.push(s)
      const r = route(s)
      const text = r.body === undefined ? '' : JSON.stringify(r.body)
      res.writeHead(r.status ?? 200, { 'content-type': 'application/json', ...(r.headers ?? {}) })
      res.end(text)
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  t.teardown(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()) }))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1.0/p1`
  return { url, seen, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/nonexistent', OS_AUTH_TYPE: 'none', OS_ENDPOINT: url } }
}

/** Trove's fault body. */
export const fault = (status: number, name: string, message: string) => ({ status, body: { [name]: { code: status, message } } })
