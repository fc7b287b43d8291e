import type { AuthOptions } from './config.js'
import { EndpointNotFoundError, TroveError } from '../errors.js'

/** One service of a Keystone v3 catalog. */
export interface CatalogEntry {
  type: string
  name?: string
  endpoints: Array<{ interface: string; region?: string; region_id?: string; url: string }>
}

/** What a token grants. */
export interface TokenInfo {
  token: string
  expiresAt: string
  userId?: string
  projectId?: string
  roles: string[]
  catalog: CatalogEntry[]
}

/** The minimal HTTP the auth code needs (provided by the client, so auth stays pure and testable). */
export type JsonHttp = (
  method: string,
  url: string,
  body?: unknown,
  headers?: Record<string, string>,
) => Promise<{ status: number; body: unknown; headers: Record<string, string | string[] | undefined> }>

/** Resolves an auth URL to its v3 root: versioned URLs as they are, else version discovery. */
export async function v3Root(http: JsonHttp, authUrl: string): Promise<string> {
  const url = authUrl.replace(/\/+$/, '')
  if (/\/v3$/.test(url)) return url
  const res = await http('GET', url)
  const values = ((res.body as { versions?: { values?: unknown[] } })?.versions?.values ?? []) as Array<{ id?: string; links?: Array<{ rel?: string; href?: string }> }>
  const v3 = values.find((v) => v.id?.startsWith('v3'))
  const href = v3?.links?.find((l) => l.rel === 'self')?.href
  if (!href) throw new TroveError(`Could not find versioned identity endpoints when attempting to authenticate at ${authUrl}.`)
  return href.replace(/\/+$/, '')
}

function authBody(o: AuthOptions): unknown {
  const domain = (name?: string, id?: string) => (id ? { id } : { name: name ?? 'Default' })
  const identity =
    o.authType === 'token'
      ? { methods: ['token'], token: { id: o.token } }
      : {
          methods: ['password'],
          password: { user: { ...(o.userId ? { id: o.userId } : { name: o.username, domain: domain(o.userDomainName, o.userDomainId) }), password: o.password } },
        }
  const scope = o.projectId ? { project: { id: o.projectId } } : o.projectName ? { project: { name: o.projectName, domain: domain(o.projectDomainName, o.projectDomainId) } } : undefined
  return { auth: { identity, ...(scope ? { scope } : {}) } }
}

/** POST /v3/auth/tokens with the password or token method. */
export async function issueToken(http: JsonHttp, o: AuthOptions): Promise<TokenInfo> {
  if (!o.authUrl) throw new TroveError('an auth URL is required (OS_AUTH_URL or --os-auth-url)')
  const root = await v3Root(http, o.authUrl)
  const res = await http('POST', `${root}/auth/tokens`, authBody(o))
  const h = res.headers['x-subject-token']
  const token = Array.isArray(h) ? h[0] : h
  const t = (res.body as { token?: Record<string, unknown> })?.token
  if (!token || !t) throw new TroveError('the identity service answered without a token')
  return {
    token,
    expiresAt: String(t.expires_at ?? ''),
    userId: (t.user as { id?: string } | undefined)?.id,
    projectId: (t.project as { id?: string } | undefined)?.id,
    roles: ((t.roles ?? []) as Array<{ name: string }>).map((r) => r.name),
    catalog: (t.catalog ?? []) as CatalogEntry[],
  }
}

/** The catalog URL of a service type for an interface (and region, if given), as keystoneauth picks it. */
export function findEndpoint(catalog: CatalogEntry[], type: string, iface: string, region?: string): string {
  for (const svc of catalog) {
    if (svc.type !== type) continue
    for (const ep of svc.endpoints) {
      if (ep.interface !== iface) continue
      if (region && ep.region !== region && ep.region_id !== region) continue
      return ep.url
    }
  }
  throw new EndpointNotFoundError(`${iface} endpoint for ${type} service${region ? ` in ${region} region` : ''} not found`)
}

/**
 * Trove endpoints may be registered with or without the project id, or as a
 * template; the API needs `.../v1.0/<project_id>`.
 */
export function databaseUrl(url: string, projectId: string | undefined): string {
  let u = url.replace(/\/+$/, '').replace(/%\((tenant_id|project_id)\)s|\$\((tenant_id|project_id)\)s/g, projectId ?? '')
  if (!projectId) return u
  if (/\/v1\.0$/.test(u)) u = `${u}/${projectId}`
  else if (!/\/v1\.0\//.test(u)) u = `${u}/v1.0/${projectId}`
  return u
}
