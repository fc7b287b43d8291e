import type { ArchiveRpc } from '../../protocol/index.js'
import type { ArchiveKeeper } from '../archiving.js'
import { RpcFailure } from '../rpc-failure.js'
import type { Handlers } from './types.js'

/** set_archiving {enabled}: continuous archiving follows the instance's backup retention. */
export function archiveMethods(keeper: () => ArchiveKeeper): Handlers<ArchiveRpc> {
  return {
    set_archiving: async (args) => {
      if (typeof args.enabled !== 'boolean') throw new RpcFailure('BadRequest', 'set_archiving needs enabled: true or false')
      return keeper().set(args.enabled)
    },
  }
}
