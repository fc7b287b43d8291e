import type { FilesystemStats, RpcMethod } from './rpc-catalogue.js'
import type { ServiceStatusName } from './statuses.js'
import type { ArchiveStatus } from './archive.js'

/**
 * RPC over MQTT (internals.md section 0 and 2). Both calls and casts are published
 * at QoS 1 on the agent's rpc topic; a call carries `reply: true` and is answered on
 * the reply topic with the same id. Ids are unique per request, so an agent that
 * sees the same id twice (a QoS 1 redelivery) answers from its cache instead of
 * running the operation again.
 */
export interface RpcRequest {
  id: string
  method: RpcMethod
  args: Record<string, unknown>
  /** Epoch milliseconds when the server sent it. */
  sent: number
  /** True for a call (a reply is expected), false for a cast. */
  reply: boolean
  /** The caller gives up after this many milliseconds; the agent may skip stale work. */
  timeoutMs?: number
}

export interface RpcError {
  /** A short class name, e.g. 'GuestError', 'NotSupported', 'BadRequest'. */
  type: string
  message: string
}

export interface RpcReply {
  id: string
  ok: boolean
  result?: unknown
  error?: RpcError
}

/** Agent -> server events (the conductor casts). */
export type AgentEvent =
  | {
      kind: 'heartbeat'
      /** Epoch milliseconds; older events than the last one seen are dropped. */
      sent: number
      status: ServiceStatusName
      /** A fault message when status is FAILED (e.g. the engine would not start). */
      fault?: string
      /** Process ids, so the server can clean up if the agent is gone. */
      agentPid: number
      enginePid?: number
      /**
       * The volume's usage, measured at most a second before (sent with the change to
       * HEALTHY), so that the instance view right after it needs no call to the agent.
       */
      volume?: FilesystemStats
      /** The log archiver's state (PostgreSQL, MariaDB); absent from agents that have none. */
      archive?: ArchiveStatus
    }
  | {
      /**
       * Progress of a backup (upstream's conductor update_backup): BUILDING when it
       * starts, then COMPLETED (with size, checksum, location) or FAILED (with message).
       */
      kind: 'update_backup'
      sent: number
      backupId: string
      state: 'BUILDING' | 'COMPLETED' | 'FAILED'
      /** GB, as upstream reports it. */
      size?: number
      checksum?: string
      location?: string
      message?: string
    }
  | {
      /** Published by the broker as the agent's last will when its connection drops. */
      kind: 'gone'
      sent: number
    }

export function encode(msg: RpcRequest | RpcReply | AgentEvent): Buffer {
  return Buffer.from(JSON.stringify(msg))
}

/** Parse a payload; undefined when it is not a JSON object. */
export function decode<T>(payload: Buffer | string): T | undefined {
  try {
    const v: unknown = JSON.parse(payload.toString())
    return v !== null && typeof v === 'object' ? (v as T) : undefined
  } catch {
    return undefined
  }
}
