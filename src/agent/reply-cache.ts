import type { RpcReply } from '../protocol/index.js'

/**
 * Replies to the most recent request ids. QoS 1 may deliver a request twice (after a
 * reconnect, before the broker saw our PUBACK); a repeated id is answered from here
 * instead of running, say, a restart a second time. Casts are stored with no reply.
 */
export class ReplyCache {
  private readonly entries = new Map<string, RpcReply | null>()

  constructor(private readonly limit = 200) {}

  has(id: string): boolean {
    return this.entries.has(id)
  }

  get(id: string): RpcReply | null | undefined {
    return this.entries.get(id)
  }

  set(id: string, reply: RpcReply | null): void {
    this.entries.delete(id)
    this.entries.set(id, reply)
    // A Map iterates in insertion order, so the first key is the oldest.
    while (this.entries.size > this.limit) {
      const oldest = this.entries.keys().next().value as string
      this.entries.delete(oldest)
    }
  }

  get size(): number {
    return this.entries.size
  }
}
