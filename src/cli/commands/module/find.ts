import type { TroveClient } from '../../../sdk/index.js'
import { findResource } from '../../resolve.js'

/** A module by ID or name (cli.md 8: algorithm D, find by id then name). */
export function findModule(client: TroveClient, arg: string) {
  return findResource(
    'module',
    arg,
    (id) => client.modules.get(id),
    () => client.modules.list(),
  )
}

/** Does the caller's token carry the admin role (the legacy client's extra columns)? */
export async function isAdminToken(client: TroveClient): Promise<boolean> {
  return ((await client.tokenInfo())?.roles ?? []).includes('admin')
}
