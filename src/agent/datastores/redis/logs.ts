import { join } from 'node:path'
import { INSTANCE_FILES } from '../../../protocol/index.js'
import type { GuestLogDef } from '../../guest-log.js'
import type { EngineContext } from '../types.js'

/**
 * Redis guest logs (internals.md 4.3): redis (SYS, the server's logfile) and guest
 * (SYS, the agent's log); upstream exposes neither to non-admins.
 */
export function redisGuestLogs(ctx: EngineContext, logFile: string): GuestLogDef[] {
  return [
    { name: 'redis', type: 'SYS', file: logFile, exposed: false },
    { name: 'guest', type: 'SYS', file: join(ctx.paths.base, INSTANCE_FILES.agentLog), exposed: false },
  ]
}
