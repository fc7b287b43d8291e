import { randomUUID } from 'node:crypto'
import type { Aedes } from 'aedes'
import {
  ALL_AGENT_EVENTS,
  ALL_AGENT_REPLIES,
  agentRpcTopic,
  decode,
  encode,
  instanceIdFromTopic,
  type AgentEvent,
  type RpcArgs,
  type RpcMethod,
  type RpcReply,
  type RpcRequest,
  type RpcResult,
} from '../../protocol/index.js'

/** A guest call that failed on the guest side (upstream GuestError, a 400 in the API). */
export class GuestError extends Error {
  constructor(
    readonly type: string,
    message: string,
  ) {
    super(message)
  }
}
/** No reply in time (upstream GuestTimeout). */
export class GuestTimeout extends Error {
  constructor() {
    super('Timeout trying to connect to the Guest Agent.')
  }
}

/** Upstream's timeouts (internals.md 2), in milliseconds. */
export const RPC_TIMEOUT = { low: 15_000, high: 180_000 }

/**
 * The server's side of guest RPC, in-process on the broker: requests go out at QoS 1
 * (queued for an agent that is reconnecting: it keeps a persistent session), replies
 * are matched by id. Agent events are handed to one listener.
 */
export class RpcClient {
  private readonly pending = new Map<string, { instanceId: string; resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>()
  private readonly onReply = (packet: { topic: string; payload: Buffer | string }, cb: () => void) => {
    const reply = decode<RpcReply>(packet.payload)
    const p = reply && typeof reply.id === 'string' ? this.pending.get(reply.id) : undefined
    // The broker lets an agent publish only on its own reply topic, so the topic names
    // the sender: a reply counts only from the instance the call went to.
    const from = instanceIdFromTopic(packet.topic)
    if (reply && p && from !== p.instanceId) {
      this.log(`rpc: dropped a reply to ${p.instanceId}'s call ${reply.id} that came from ${from ?? 'an unknown sender'}`)
    } else if (reply && p) {
      this.pending.delete(reply.id)
      clearTimeout(p.timer)
      if (reply.ok) p.resolve(reply.result)
      else p.reject(new GuestError(reply.error?.type ?? 'GuestError', reply.error?.message ?? 'unknown guest error'))
    }
    cb()
  }
  private readonly onEvent = (packet: { topic: string; payload: Buffer | string }, cb: () => void) => {
    const id = instanceIdFromTopic(packet.topic)
    const ev = decode<AgentEvent>(packet.payload)
    if (id && ev) {
      try {
        this.eventListener?.(id, ev)
      } catch {
        /* a listener bug must not stop the broker */
      }
    }
    cb()
  }
  private eventListener?: (instanceId: string, ev: AgentEvent) => void

  constructor(
    private readonly broker: Aedes,
    private readonly log: (m: string) => void = () => {},
  ) {}

  async start(onEvent: (instanceId: string, ev: AgentEvent) => void): Promise<void> {
    this.eventListener = onEvent
    await new Promise<void>((r) => this.broker.subscribe(ALL_AGENT_REPLIES, this.onReply as never, r))
    await new Promise<void>((r) => this.broker.subscribe(ALL_AGENT_EVENTS, this.onEvent as never, r))
  }

  private publish(instanceId: string, req: RpcRequest): Promise<void> {
    return new Promise((resolve, reject) =>
      this.broker.publish({ cmd: 'publish', topic: agentRpcTopic(instanceId), payload: encode(req), qos: 1, retain: false, dup: false } as never, (err?: Error) => (err ? reject(err) : resolve())),
    )
  }

  /**
   * A call: resolves with the guest's result, rejects with GuestError or GuestTimeout.
   * Arguments and result are typed by the method's entry in the catalogue
   * (src/protocol/rpc-catalogue.ts); the result is the agent's word, not checked here.
   */
  call<M extends RpcMethod>(instanceId: string, method: M, args: RpcArgs<M>, timeoutMs = RPC_TIMEOUT.low): Promise<RpcResult<M>> {
    const req: RpcRequest = { id: randomUUID(), method, args, sent: Date.now(), reply: true, timeoutMs }
    return new Promise<RpcResult<M>>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(req.id)
        reject(new GuestTimeout())
      }, timeoutMs)
      this.pending.set(req.id, { instanceId, resolve: resolve as (v: unknown) => void, reject, timer })
      this.publish(instanceId, req).catch((e: Error) => {
        clearTimeout(timer)
        this.pending.delete(req.id)
        reject(e)
      })
    })
  }

  /** A cast: fire and forget. */
  async cast<M extends RpcMethod>(instanceId: string, method: M, args: RpcArgs<M>): Promise<void> {
    await this.publish(instanceId, { id: randomUUID(), method, args, sent: Date.now(), reply: false })
  }

  close(): void {
    for (const [, p] of this.pending) {
      clearTimeout(p.timer)
      p.reject(new GuestTimeout())
    }
    this.pending.clear()
  }
}
