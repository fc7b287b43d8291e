import type { Server } from 'node:http'
import type { Socket } from 'node:net'
import { sourceKey } from '../identity/login-guard.js'
import { connectionBudget } from '../connection-budget.js'

export interface ConnectionLimits {
  /** Open connections in total (server.maxConnections): beyond, a new one is closed at once. */
  total: number
  /** Open connections from one source (an IPv4 address, an IPv6 /64): beyond, a new one is closed at once. */
  perSource: number
  /** A connection must deliver a request's headers within this time, or it is answered 408 and closed. */
  headersTimeoutMs: number
  /** ... and the whole request (headers and body) within this. */
  requestTimeoutMs: number
  /** An idle keep-alive connection is closed after this. */
  keepAliveTimeoutMs: number
  /** How often Node checks the two timeouts above (its default, 30 s, lets idle sockets pile up). */
  checkIntervalMs: number
}

/**
 * Enough for a busy lab on one host (every local client is 127.0.0.1: the CLI, the openstack
 * client, a benchmark's 64 connections), small enough that one source cannot take the
 * file table: 20,000 idle connections from one address used to leave the API and the
 * reconciler with EMFILE for over a minute.
 */
export function defaultConnectionLimits(): ConnectionLimits {
  const total = connectionBudget()
  return { total, perSource: Math.min(256, total), headersTimeoutMs: 10_000, requestTimeoutMs: 30_000, keepAliveTimeoutMs: 72_000, checkIntervalMs: 1_000 }
}

/**
 * Caps a server's open connections per source; the total is server.maxConnections (Node
 * closes the excess before any listener sees it). The per-source count is kept here: no
 * library counts sockets per address for a plain Node server (@fastify/rate-limit counts
 * requests, and a half-open socket sends none). A refused socket is destroyed at once,
 * which frees its descriptor. `log` hears of each source once per burst, never per socket.
 */
export function capConnections(server: Server, limits: ConnectionLimits, log: (m: string) => void): void {
  server.maxConnections = limits.total
  const open = new Map<string, number>()
  // When each refusal was last logged: once a minute per source (and for the total), not per socket.
  const logged = new Map<string, number>()
  const note = (key: string, m: string) => {
    const now = Date.now()
    if ((logged.get(key) ?? 0) > now - 60_000) return
    if (logged.size > 10_000) logged.clear()
    logged.set(key, now)
    log(m)
  }
  server.on('drop', () => note('', `refusing connections: ${limits.total} are open (the total cap)`))
  // Before Node's own HTTP listener, so a refused socket is gone before it is parsed.
  server.prependListener('connection', (socket: Socket) => {
    const key = sourceKey(socket.remoteAddress)
    const n = open.get(key) ?? 0
    if (n >= limits.perSource) {
      socket.destroy()
      note(key, `refusing connections from ${key}: ${n} are open (the per-source cap)`)
      return
    }
    open.set(key, n + 1)
    socket.once('close', () => {
      const left = (open.get(key) ?? 1) - 1
      if (left > 0) open.set(key, left)
      else open.delete(key)
    })
  })
}
