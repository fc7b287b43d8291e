import { randomUUID } from 'node:crypto'
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import type { AuthContext } from '../identity/store.js'
import { capConnections, defaultConnectionLimits, type ConnectionLimits } from './connections.js'
import { Fault } from '../errors.js'
import { installXml } from './xml.js'

declare module 'fastify' {
  interface FastifyRequest {
    auth?: AuthContext
    troveRequestId: string
  }
}

/** The public base URL of a request, from its Host header (as upstream builds links). */
export function baseUrl(req: FastifyRequest): string {
  return `${req.protocol}://${req.host}`
}

/** webob's default error body (upstream answers 415 and malformed JSON with it). */
function webobBody(code: number, title: string, message: string) {
  return { message, code: `${code} ${title}`, title }
}

/** The response header that marks every answer of a lab (`trove server`); api.md has no such header. */
export const LAB_HEADER = 'x-trove-lab'

/**
 * A fastify instance with upstream's transport rules (api.md section 1): JSON bodies
 * only with a JSON Content-Type (a body without one is ignored), a `.json` suffix
 * stripped, every answer carrying x-openstack-request-id, faults in upstream's
 * body format, unknown routes 404 itemNotFound, and no stack trace ever sent.
 */
export function createHttp(log: (m: string) => void, connections: Partial<ConnectionLimits> = {}): FastifyInstance {
  const limits = { ...defaultConnectionLimits(), ...connections }
  const app = Fastify({
    logger: false,
    // Half-open and slow clients go away (connections.ts): headers within 10 s, the request within 30 s.
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    http: { headersTimeout: limits.headersTimeoutMs, connectionsCheckingInterval: limits.checkIntervalMs },
    bodyLimit: 1024 * 1024,
    rewriteUrl: (req) => (req.url ?? '/').replace(/\.json(?=\?|$)/, ''),
    routerOptions: { ignoreTrailingSlash: true },
    // The router's own refusals (bad percent-encoding, over-long path parameters) would
    // otherwise answer with fastify's body and no request id: send upstream faults.
    frameworkErrors: (err, _req, reply) => {
      reply.header('x-openstack-request-id', `req-${randomUUID()}`)
      reply.header(LAB_HEADER, '1')
      const f = err.code === 'FST_ERR_BAD_URL' ? new Fault('badRequest', 'Malformed request URL.') : new Fault('itemNotFound', 'The resource could not be found.')
      void (reply as FastifyReply).code(f.status).send(f.body())
    },
  })
  capConnections(app.server, limits, log)
  app.decorateRequest('troveRequestId', '')
  app.addHook('onRequest', async (req, reply) => {
    req.troveRequestId = `req-${randomUUID()}`
    reply.header('x-openstack-request-id', req.troveRequestId)
    // Tells our CLI it talks to a lab (lab-only routes and hints); clients ignore it.
    reply.header(LAB_HEADER, '1')
  })

  app.removeAllContentTypeParsers()
  app.addContentTypeParser(['application/json'], { parseAs: 'string' }, (_req, body, done) => {
    const text = String(body)
    if (text.trim() === '') return done(null, undefined)
    try {
      done(null, JSON.parse(text))
    } catch {
      done(Object.assign(new Error('Malformed request body'), { statusCode: 400, malformed: true }), undefined)
    }
  })
  app.addContentTypeParser('*', (req, payload, done) => {
    // Upstream silently ignores a body sent without a Content-Type; any other type is refused.
    if (!req.headers['content-type']) {
      payload.resume()
      payload.on('end', () => done(null, undefined))
      return
    }
    // Refused, but only once the body is read (at most 10 s): an answer sent while the
    // client still writes reaches it as a connection reset (EPIPE), not as this 415.
    let refused = false
    const refuse = () => {
      if (refused) return
      refused = true
      clearTimeout(stop)
      done(Object.assign(new Error('unsupported media type'), { statusCode: 415 }), undefined)
    }
    const stop = setTimeout(refuse, 10_000)
    payload.once('end', refuse).once('error', refuse).resume()
  })
  // Legacy XML bodies and answers (api.md 1): see xml.ts for the mapping.
  installXml(app)

  app.setNotFoundHandler((_req, reply) => {
    const f = new Fault('itemNotFound', 'The resource could not be found.')
    reply.code(f.status).send(f.body())
  })

  app.setErrorHandler(async (err: Error & { statusCode?: number; malformed?: boolean; code?: string }, req, reply) => {
    if (err instanceof Fault) {
      for (const [k, v] of Object.entries(err.headers)) reply.header(k, v)
      return reply.code(err.status).send(err.body())
    }
    if (err.statusCode === 415) {
      return reply.code(415).send(webobBody(415, 'Unsupported Media Type', `The request media type ${String(req.headers['content-type'])} is not supported by this server.`))
    }
    if (err.malformed || err.code === 'FST_ERR_CTP_EMPTY_JSON_BODY') {
      // Upstream sends webob's bare body here; we send the regular fault shape (same message, same status).
      return reply.code(400).send(new Fault('badRequest', 'Malformed request body').body())
    }
    if (err.statusCode === 413 || err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      // Read and drop the rest of the body first (for at most 10 s), and only then answer:
      // an answer sent while the client still writes ends in a reset (EPIPE) on its side.
      const raw = req.raw
      if (!raw.readableEnded && !raw.destroyed) {
        await new Promise<void>((done) => {
          const stop = setTimeout(done, 10_000).unref()
          const finish = () => {
            clearTimeout(stop)
            done()
          }
          raw.once('end', finish).once('close', finish).resume()
        })
      }
      return reply.code(413).header('connection', 'close').send(new Fault('overLimit', 'Request body too large.').body())
    }
    if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
      return reply.code(400).send(new Fault('badRequest', err.message).body())
    }
    if (err.code === 'SQLITE_FULL' || err.code === 'ENOSPC') {
      // The lab's disk is full: nothing was changed (SQLite rolled back); retry once space is freed.
      log(`refused ${req.troveRequestId} ${req.method} ${req.url.split('?')[0]}: no space left on the data directory's device`)
      return reply
        .code(503)
        .header('retry-after', '30')
        .send({ serviceUnavailable: { code: 503, message: 'The server cannot record the request: no space is left on its data device. Retry once space is freed.' } })
    }
    log(`error ${req.troveRequestId} ${req.method} ${req.url.split('?')[0]}: ${err.stack ?? err.message}`)
    const id = req.troveRequestId.replace(/^req-/, '')
    return reply.code(500).send(new Fault('instanceFault', `Internal Server Error. Please keep this ID to help us figure out what went wrong: (${id}).`).body())
  })
  return app
}
