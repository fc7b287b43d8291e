import type { ConfigRpc } from '../../protocol/index.js'
import { OverrideError, checkOverrides, type Overrides } from '../datastores/overrides.js'
import { RpcFailure } from '../rpc-failure.js'
import type { Handlers } from './types.js'

/** What the configuration methods act on (the supervisor's). */
export interface OverrideOperations {
  updateOverrides(overrides: Overrides, remove: boolean): Promise<void>
  applyOverrides(overrides: Overrides): Promise<void>
}

/**
 * update_overrides(overrides, remove=false) and apply_overrides(overrides)
 * (internals.md 1.11 and 2): the attached configuration group, persisted in the
 * engine's own config and applied live. Bad arguments come back as BadRequest.
 */
export function configMethods(ops: () => OverrideOperations): Handlers<ConfigRpc> {
  const overrides = (v: unknown) => {
    try {
      return checkOverrides(v)
    } catch (err) {
      if (err instanceof OverrideError) throw new RpcFailure('BadRequest', err.message)
      throw err
    }
  }
  return {
    update_overrides: async (args) => {
      // The engine's own checks (a Redis quote, a PostgreSQL backslash) throw OverrideError too.
      await ops()
        .updateOverrides(overrides(args.overrides), args.remove === true)
        .catch((err: unknown) => {
          throw err instanceof OverrideError ? new RpcFailure('BadRequest', err.message) : err
        })
      return null
    },
    apply_overrides: async (args) => {
      await ops().applyOverrides(overrides(args.overrides))
      return null
    },
  }
}
