import type { Project, User } from '../../../sdk/resources/identity.js'

/** `project create/show` fields, as the openstack client prints them (links dropped). */
export function projectFields(p: Project): Record<string, unknown> {
  const { links: _links, ...rest } = p as Project & { links?: unknown }
  return rest
}

/** `user create/show` fields, as the openstack client prints them (links dropped). */
export function userFields(u: User): Record<string, unknown> {
  const { links: _links, ...rest } = u as User & { links?: unknown }
  return rest
}
