import { MAX_MQTT_PACKET, encode, type FilesystemStats, type RpcError, type RpcReply, type RpcRequest } from '../protocol/index.js'
import { oneLine } from './engine-process.js'
import type { Log } from './log.js'
import { ReplyCache } from './reply-cache.js'
import { accountMethods } from './account-rpc.js'
import type { Accounts } from './datastores/accounts.js'
import type { Overrides } from './datastores/overrides.js'
import { configMethods } from './config-rpc.js'
import { backupMethods } from './backup-rpc.js'
import type { BackupInfo } from '../protocol/index.js'
import { replicationMethods, type ReplicationHost } from './replication-rpc.js'
import { reconfigureMethods, type Reconfigurable } from './resize-rpc.js'
import { logMethods } from './log-rpc.js'
import type { GuestLogManager } from './guest-log.js'
import { moduleMethods, type ModuleManager } from './module-rpc.js'

/** An error with an explicit type for the reply (otherwise it is a GuestError). */
export class RpcFailure extends Error {
  constructor(
    readonly type: string,
    message: string,
  ) {
    super(message)
  }
}

export type RpcHandler = (args: Record<string, unknown>, req: RpcRequest) => Promise<unknown>

/** What the agent's methods act on. */
export interface AgentOperations {
  prepare(): Promise<void>
  stopDb(): Promise<void>
  restart(timeoutMs?: number): Promise<void>
  shutdown(): Promise<void>
  filesystemStats(): Promise<FilesystemStats>
  /** The engine's databases/users/root; without it those RPCs are not supported. */
  accounts?(): Promise<Accounts>
  /** update_overrides/apply_overrides; without them those RPCs are not supported. */
  updateOverrides?(overrides: Overrides, remove: boolean): Promise<void>
  applyOverrides?(overrides: Overrides): Promise<void>
  /** Resize, upgrade and access methods (resize-rpc.ts); without it those RPCs are not supported. */
  reconfigure?: () => Reconfigurable
  /** guest_log_list/guest_log_action; without it those RPCs are not supported. */
  guestLogs?(): Promise<GuestLogManager>
  /** module_apply/module_list/module_remove; without it those RPCs are not supported. */
  modules?: ModuleManager
  /** The replication methods (replication-rpc.ts); without it those RPCs are not supported. */
  replication?: () => ReplicationHost
  /** create_backup (backup-rpc.ts); without it that RPC is not supported. */
  createBackup?(info: BackupInfo): Promise<void>
}

/** The guest RPC methods implemented so far (upstream names, internals.md 2). */
export function agentMethods(ops: AgentOperations): Record<string, RpcHandler> {
  return {
    rpc_ping: async () => true,
    get_filesystem_stats: () => ops.filesystemStats(),
    prepare: async () => {
      await ops.prepare()
      return null
    },
    stop_db: async () => {
      await ops.stopDb()
      return null
    },
    restart: async (_args, req) => {
      await ops.restart(req.timeoutMs)
      return null
    },
    shutdown_agent: async () => {
      await ops.shutdown()
      return null
    },
    ...(ops.accounts ? accountMethods(() => ops.accounts!()) : {}),
    ...configMethods(ops),
    ...(ops.reconfigure ? reconfigureMethods(ops.reconfigure) : {}),
    ...(ops.guestLogs ? logMethods(() => ops.guestLogs!()) : {}),
    ...(ops.modules ? moduleMethods(ops.modules) : {}),
    ...(ops.replication ? replicationMethods(ops.replication) : {}),
    ...backupMethods(ops),
  }
}

function isRequest(v: Partial<RpcRequest> | undefined): v is RpcRequest {
  return typeof v?.id === 'string' && v.id !== '' && typeof v.method === 'string'
}

/** Errors become a type and one line of message: no stack, nothing but our own text. */
export function toRpcError(err: unknown): RpcError {
  if (err instanceof RpcFailure) return { type: err.type, message: oneLine(err.message) }
  return { type: 'GuestError', message: oneLine(err instanceof Error ? err.message : String(err)) }
}

/**
 * Runs requests from the rpc topic. A call (reply: true) gets an RpcReply with its id.
 * A repeated id (QoS 1 redelivery) is answered from the cache, or, while the first copy
 * still runs, dropped: that copy's reply will go out.
 */
export class RpcDispatcher {
  private readonly cache = new ReplyCache(200)
  private readonly running = new Set<string>()

  constructor(
    private readonly methods: Record<string, RpcHandler>,
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
    this.log(`rpc ${oneLine(String(req.method), 80)} ${req.id}: ${reply.ok ? 'ok' : `${reply.error!.type}: ${reply.error!.message}`} in ${Date.now() - t0} ms`)
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
