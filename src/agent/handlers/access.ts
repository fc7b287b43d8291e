import type { AccessRpc } from '../../protocol/index.js'
import { checkAccess } from '../datastores/reconfigure.js'
import { bad, type Reconfigurable } from './reconfigure.js'
import type { Handlers } from './types.js'

/**
 * update_access {access} (internals.md 2): the server has already rewritten
 * agent.json; allowed_cidrs is made live by the engine's own checks (pg_hba + reload,
 * MariaDB init_connect); returns {enforced: false} for engines that cannot check
 * client addresses (Redis).
 */
export function accessMethods(target: () => Reconfigurable): Handlers<AccessRpc> {
  return {
    update_access: async (args) => {
      const t = target()
      let access
      try {
        access = checkAccess(args.access)
      } catch (err) {
        bad((err as Error).message)
      }
      return t.maintenance(async (ds) => {
        t.config.access = access
        const enforced = ds.applyAccess ? await ds.applyAccess() : false
        t.log(`access: ${access.allowedCidrs.length ? access.allowedCidrs.join(', ') : 'any address'}${enforced ? '' : ` (not enforced: ${ds.name} cannot check client addresses)`}`)
        return { enforced }
      })
    },
  }
}
