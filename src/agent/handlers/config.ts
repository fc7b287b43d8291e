import { OverrideError, checkOverrides } from './datastores/overrides.js'
import { RpcFailure, type AgentOperations, type RpcHandler } from './rpc.js'

/**
 * update_overrides(overrides, remove=false) and apply_overrides(overrides)
 * (internals.md 1.11 and 2): the attached configuration group, persisted in the
 * engine's own config and applied live. Bad arguments come back as BadRequest.
 */
export function configMethods(ops: AgentOperations): Record<string, RpcHandler> {
  const { updateOverrides, applyOverrides } = ops
  if (!updateOverrides || !applyOverrides) return {}
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
      await updateOverrides(overrides(args.overrides), args.remove === true).catch((err: unknown) => {
        throw err instanceof OverrideError ? new RpcFailure('BadRequest', err.message) : err
      })
      return null
    },
    apply_overrides: async (args) => {
      await applyOverrides(overrides(args.overrides))
      return null
    },
  }
}
