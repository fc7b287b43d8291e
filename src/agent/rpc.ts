import { MAX_MQTT_PACKET, encode, type RpcReply, type RpcRequest } from '../protocol/index.js'
import { oneLine } from './engine-process.js'
import type { Log } from './log.js'
import { ReplyCache } from './reply-cache.js'
import { RpcFailure, toRpcError } from './rpc-failure.js'

/**
 * A handler as the dispatcher sees it: any method name, any arguments. The agent's
 * table is typed by the catalogue (handlers/index.ts); a request is still checked
 * at run time, here (an unknown method) and by each handler (its arguments).
 */
export type RpcHandler = (args: Record<string, unknown>, req: RpcRequest) => Promise<unknown>

function isRequest(v: Partial<RpcRequest> | undefined): v is RpcRequest {
  return typeof v?.id === 'string' && v.id !== '' && typeof v.method === 'string'
}

/**
 * Runs requests from the rpc topic. A call (reply: true) gets an RpcReply with its id.
 * A repeated id (QoS 1 redelivery) is answered from the cache, or, while the first copy
 * still runs, dropped: that copy's reply will go out.
 */
/** Methods an HA member gets several times a second (lease.ts): logged only when they fail. */
const QUIET = new Set<string>(['renew_lease', 'ha_view', 'sync_view'])

export class RpcDispatcher {
  private readonly cache = new ReplyCache(200)
  private readonly running = new Set<string>()

  constructor(
    private readonly methods: Readonly<Record<string, RpcHandler>>,
    private readonly publish: (reply: RpcReply) => Promise<void>,
    private readonly log: Log,
    /** Called after a request finished and its reply (if any) was published. */
    private readonly afterReply: (req: RpcRequest, reply: RpcReply) => void = () => {},
  ) {}

  async handle(msg: Partial<RpcRequest> | undefined): Promise<void> {
    if (!isRequest(msg)) {
      this.log('rpc: ignored a malformed request')
      return
    }
    const req = msg
    if (this.running.has(req.id)) return
    if (this.cache.has(req.id)) {
      const cached = this.cache.get(req.id)
      this.log(`rpc ${req.method} ${req.id}: repeated id, answered from the cache`)
      if (req.reply && cached) await this.send(cached)
      return
    }
    this.running.add(req.id)
    const t0 = Date.now()
    let reply: RpcReply
    try {
      const handler = Object.hasOwn(this.methods, req.method) ? this.methods[req.method] : undefined
      if (!handler) throw new RpcFailure('NotSupported', `method ${oneLine(String(req.method), 80)} is not supported`)
      if (typeof req.timeoutMs === 'number' && typeof req.sent === 'number' && req.sent + req.timeoutMs < t0)
        throw new RpcFailure('Timeout', `request expired ${t0 - req.sent - req.timeoutMs} ms before it arrived`)
      const args = req.args !== null && typeof req.args === 'object' ? req.args : {}
      reply = { id: req.id, ok: true, result: await handler(args, req) }
    } catch (err) {
      reply = { id: req.id, ok: false, error: toRpcError(err) }
    }
    this.cache.set(req.id, req.reply ? reply : null)
    this.running.delete(req.id)
    if (!reply.ok || !QUIET.has(req.method)) this.log(`rpc ${oneLine(String(req.method), 80)} ${req.id}: ${reply.ok ? 'ok' : `${reply.error!.type}: ${reply.error!.message}`} in ${Date.now() - t0} ms`)
    if (req.reply) await this.send(reply)
    this.afterReply(req, reply)
  }

  private async send(reply: RpcReply): Promise<void> {
    try {
      await this.publish(reply)
    } catch (err) {
      this.log(`rpc reply ${reply.id} not published: ${oneLine((err as Error).message)}`)
    }
  }
}

/**
 * The encoded reply, or, when it would not fit in one packet the broker takes
 * (MAX_MQTT_PACKET, less room for the topic and header), an error reply saying so:
 * the broker would drop the connection and the caller would only see a timeout.
 */
export function encodeReply(reply: RpcReply, log: Log): Buffer {
  const body = encode(reply)
  if (body.length <= MAX_MQTT_PACKET - 1024) return body
  log(`rpc reply ${reply.id}: ${body.length} bytes, over the broker's limit; sending an error instead`)
  return encode({ id: reply.id, ok: false, error: { type: 'ReplyTooLarge', message: `The guest's reply (${body.length} bytes) exceeds the message size limit (${MAX_MQTT_PACKET} bytes).` } })
}
