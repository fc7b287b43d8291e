import { NotFoundError, type Flavor, type TroveClient } from '../sdk/index.js'
import { CliError } from './errors.js'

/** oslo's is_uuid_like: 32 hex digits, dashes optional. */
export function isUuidLike(s: string): boolean {
  return /^[0-9a-f]{32}$/i.test(s.replace(/^urn:uuid:/i, '').replace(/[{}-]/g, ''))
}

/**
 * osc-lib find_resource (cli.md section 4, algorithm A): GET by the argument; when
 * that fails, list and match the name exactly; 0 or several matches are errors.
 */
export async function findResource<T extends { id: unknown; name?: string }>(kind: string, arg: string, get: (id: string) => Promise<T>, list: () => Promise<T[]> | AsyncIterable<T>): Promise<T> {
  try {
    return await get(arg)
  } catch (e) {
    if (!(e instanceof NotFoundError) && !(e instanceof Error && 'status' in e)) throw e
  }
  const matches: T[] = []
  const all = list()
  if (Symbol.asyncIterator in Object(all)) {
    for await (const x of all as AsyncIterable<T>) if (x.name === arg) matches.push(x)
  } else for (const x of await (all as Promise<T[]>)) if (x.name === arg) matches.push(x)
  if (matches.length === 0) throw new CliError(`No ${kind} with a name or ID of '${arg}' exists.`)
  if (matches.length > 1) throw new CliError(`More than one ${kind} exists with the name '${arg}'.`)
  return get(String(matches[0].id))
}

export function findInstance(client: TroveClient, arg: string) {
  return findResource(
    'instance',
    arg,
    (id) => client.instances.get(id),
    () => client.instances.list(),
  )
}

export async function findFlavor(client: TroveClient, arg: string) {
  // Flavor ids may be null when Nova's id is not an integer; str_id is then the id.
  const norm = (f: Flavor) => ({ ...f, id: f.id ?? f.str_id })
  return findResource(
    'flavor',
    arg,
    async (id) => norm(await client.flavors.get(id)),
    async () => (await client.flavors.list()).map(norm),
  )
}

/** Algorithm C (instance delete): UUID-like is used as is; otherwise list and match names. */
export async function instanceIdFor(client: TroveClient, arg: string): Promise<string> {
  if (isUuidLike(arg)) return arg
  const ids: string[] = []
  for await (const i of client.instances.list()) if (i.name === arg) ids.push(i.id)
  if (ids.length === 1) return ids[0]
  throw new CliError(`Failed to get database instance ${arg}, error: ${ids.length === 0 ? '404 (HTTP 404)' : ''}`)
}

export function findConfiguration(client: TroveClient, arg: string) {
  return findResource(
    'configuration',
    arg,
    (id) => client.configurations.get(id),
    () => client.configurations.list(),
  )
}

export function findCluster(client: TroveClient, arg: string) {
  return findResource(
    'cluster',
    arg,
    (id) => client.clusters.get(id),
    () => client.clusters.list(),
  )
}

/**
 * `<instance_or_cluster>` of root enable/show (cli.md section 7.9): an instance (A),
 * else a cluster (A), else one combined error.
 */
export async function findInstanceOrCluster(client: TroveClient, arg: string): Promise<{ id: string; target: 'instances' | 'clusters' }> {
  // Only "not found" moves on (osc-lib's CommandError); connection and server errors surface.
  try {
    return { id: (await findInstance(client, arg)).id, target: 'instances' }
  } catch (e) {
    if (!(e instanceof CliError)) throw e
  }
  try {
    return { id: (await findCluster(client, arg)).id, target: 'clusters' }
  } catch (e) {
    if (!(e instanceof CliError)) throw e
  }
  throw new CliError(`No instance or cluster with a name or ID of '${arg}' exists.`)
}

/** Project arguments of quota commands (cli.md section 4): UUID-like verbatim, else Keystone. */
export async function projectIdFor(client: TroveClient, arg: string): Promise<string> {
  if (isUuidLike(arg)) return arg
  try {
    return (await client.identity.findProject(arg)).id
  } catch {
    throw new CliError(`Failed to get project ID for ${arg}, error: No project with a name or ID of '${arg}' exists.`)
  }
}
