import { join } from 'node:path'
import type { LogRpc } from '../../protocol/index.js'
import { GuestLogError, GuestLogManager } from '../guest-log.js'
import type { Log } from '../log.js'
import { RpcFailure } from '../rpc-failure.js'
import type { Supervisor } from '../supervisor.js'
import type { Handlers } from './types.js'

/** File in the instance dir keeping the guest logs' enabled state (0600). */
export const GUEST_LOG_STATE = 'guest-logs.json'

const flag = (v: unknown): boolean => v === true || v === 1 || v === '1' || v === 'true'

/**
 * guest_log_list(is_admin) and guest_log_action(log_name, enable, disable, publish,
 * discard, is_admin) (internals.md 2 and 3.5). Upstream reads is_admin from the RPC
 * context; here the server passes it. Refusals come back typed (BadRequest, NotFound,
 * Forbidden, NotSupported).
 */
export function logMethods(manager: () => Promise<GuestLogManager>): Handlers<LogRpc> {
  const typed = async <T>(fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn()
    } catch (err) {
      if (err instanceof GuestLogError) throw new RpcFailure(err.kind, err.message)
      throw err
    }
  }
  return {
    guest_log_list: (args) => typed(async () => (await manager()).list(flag(args.is_admin))),
    guest_log_action: (args) =>
      typed(async () => {
        if (typeof args.log_name !== 'string' || args.log_name === '') throw new RpcFailure('BadRequest', 'log_name is required')
        return (await manager()).action({
          name: args.log_name,
          enable: flag(args.enable),
          disable: flag(args.disable),
          publish: flag(args.publish),
          discard: flag(args.discard),
          isAdmin: flag(args.is_admin),
        })
      }),
  }
}

/** The log manager of the supervisor's engine, made once it is loaded. */
export function supervisorLogs(supervisor: Supervisor, log: Log): () => Promise<GuestLogManager> {
  let made: GuestLogManager | undefined
  return async () => {
    if (made) return made
    // A restarted agent answers once it has re-adopted its engine (Supervisor.ready).
    const ds = await supervisor.ready().catch(() => supervisor.datastore)
    if (!ds) throw new RpcFailure('GuestError', `the instance is not prepared (status ${supervisor.status})`)
    if (!ds.guestLogs) throw new RpcFailure('NotSupported', `${ds.name} has no guest logs`)
    const b = supervisor.config
    made = new GuestLogManager(ds.guestLogs(), {
      instanceId: b.instanceId,
      manager: b.datastore.manager,
      storageDir: b.storageDir,
      stateFile: join(b.baseDir, GUEST_LOG_STATE),
      enginePid: () => supervisor.enginePid,
      log,
    })
    return made
  }
}
