/**
 * Resolution of authentication options from flags, `OS_*` environment variables and a
 * clouds.yaml entry, the way python-openstackclient (osc-lib, openstacksdk, keystoneauth)
 * combines them. Pure: callers pass in everything, nothing here reads files or `process`.
 *
 * Precedence per setting: flag > environment > clouds.yaml cloud > default. An explicit empty
 * flag (`--os-user-domain-name ""`) unsets a setting; an empty environment variable counts as
 * not set, like osc-lib's `utils.env`.
 */

/** The keystoneauth plugins trove supports (`v3password`/`v3token` are accepted as aliases). */
export type AuthType = 'password' | 'token' | 'none' | 'admin_token'

/** Catalog interface of the database endpoint. */
export type EndpointInterface = 'public' | 'internal' | 'admin'

/** Everything the SDK needs to authenticate and find the database endpoint. */
export interface AuthOptions {
  authType: AuthType
  authUrl?: string
  username?: string
  userId?: string
  password?: string
  projectName?: string
  projectId?: string
  userDomainName?: string
  userDomainId?: string
  projectDomainName?: string
  projectDomainId?: string
  token?: string
  /** Fixed endpoint for `none` / `admin_token` (ignored by password/token auth, like OSC). */
  endpoint?: string
  regionName?: string
  interface: EndpointInterface
  cacert?: string
  insecure?: boolean
}

/** Where a resolved setting came from. */
export type ConfigOrigin = 'flag' | 'env' | 'cloud' | 'default'

/** The raw inputs of `resolveAuthOptions`. */
export interface ConfigSources {
  /**
   * Global flags by long name without dashes (`os-auth-url`, `insecure`, `verify`); commander's
   * camelCase keys (`osAuthUrl`) are accepted too. Boolean flags take 'true'/'false'.
   */
  flags: Record<string, string | undefined>
  /** The environment (`OS_*`). */
  env: Record<string, string | undefined>
  /** The parsed clouds.yaml (with secure.yaml merged in), if one was found. */
  clouds?: unknown
  /** The cloud to use; defaults to `--os-cloud`, then `OS_CLOUD`. */
  cloudName?: string
}

/** Resolved options plus the origin of each setting that is present. */
export interface ResolvedAuth {
  options: AuthOptions
  origin: Record<string, ConfigOrigin>
}

/** A configuration problem; the message is one lower-case line and never contains a secret. */
export class ConfigError extends Error {
  override name = 'ConfigError'
  /** A stable identifier, e.g. `missing_password` (a CLI may prompt and retry on that one). */
  readonly code: string
  constructor(code: string, message: string) {
    super(message)
    this.code = code
  }
}

type StringKey = Exclude<keyof AuthOptions, 'authType' | 'interface' | 'insecure'>

interface FieldSpec {
  key: StringKey | 'authType' | 'interface' | 'insecure'
  flags: readonly string[]
  env: readonly string[]
  /** Keys in the cloud entry (after `_fix_backwards_project`-style normalisation), first wins. */
  cloud: readonly string[]
  /** The name used in keystoneauth's "missing value" messages. */
  label: string
}

const FIELDS: readonly FieldSpec[] = [
  { key: 'authType', flags: ['os-auth-type'], env: ['OS_AUTH_TYPE'], cloud: ['auth_type'], label: 'auth-type' },
  { key: 'authUrl', flags: ['os-auth-url'], env: ['OS_AUTH_URL'], cloud: ['auth.auth_url'], label: 'auth-url' },
  { key: 'username', flags: ['os-username'], env: ['OS_USERNAME'], cloud: ['auth.username', 'auth.user_name'], label: 'username' },
  { key: 'userId', flags: ['os-user-id'], env: ['OS_USER_ID'], cloud: ['auth.user_id'], label: 'user-id' },
  { key: 'password', flags: ['os-password'], env: ['OS_PASSWORD'], cloud: ['auth.password'], label: 'password' },
  {
    key: 'projectName',
    flags: ['os-project-name', 'os-tenant-name'],
    env: ['OS_PROJECT_NAME', 'OS_TENANT_NAME'],
    cloud: ['auth.project_name', 'project_name', 'auth.tenant_name', 'tenant_name'],
    label: 'project-name',
  },
  {
    key: 'projectId',
    flags: ['os-project-id', 'os-tenant-id'],
    env: ['OS_PROJECT_ID', 'OS_TENANT_ID'],
    cloud: ['auth.project_id', 'project_id', 'auth.tenant_id', 'tenant_id'],
    label: 'project-id',
  },
  {
    key: 'userDomainName',
    flags: ['os-user-domain-name'],
    env: ['OS_USER_DOMAIN_NAME'],
    cloud: ['auth.user_domain_name', 'user_domain_name', 'auth.domain_name', 'domain_name'],
    label: 'user-domain-name',
  },
  {
    key: 'userDomainId',
    flags: ['os-user-domain-id'],
    env: ['OS_USER_DOMAIN_ID'],
    cloud: ['auth.user_domain_id', 'user_domain_id', 'auth.domain_id', 'domain_id'],
    label: 'user-domain-id',
  },
  {
    key: 'projectDomainName',
    flags: ['os-project-domain-name'],
    env: ['OS_PROJECT_DOMAIN_NAME'],
    cloud: ['auth.project_domain_name', 'project_domain_name', 'auth.domain_name', 'domain_name'],
    label: 'project-domain-name',
  },
  {
    key: 'projectDomainId',
    flags: ['os-project-domain-id'],
    env: ['OS_PROJECT_DOMAIN_ID'],
    cloud: ['auth.project_domain_id', 'project_domain_id', 'auth.domain_id', 'domain_id'],
    label: 'project-domain-id',
  },
  { key: 'token', flags: ['os-token'], env: ['OS_TOKEN'], cloud: ['auth.token', 'auth.auth_token', 'auth_token', 'token'], label: 'token' },
  { key: 'endpoint', flags: ['os-endpoint'], env: ['OS_ENDPOINT'], cloud: ['auth.endpoint', 'endpoint'], label: 'endpoint' },
  { key: 'regionName', flags: ['os-region-name'], env: ['OS_REGION_NAME'], cloud: ['region_name'], label: 'region-name' },
  { key: 'interface', flags: ['os-interface'], env: ['OS_INTERFACE'], cloud: ['interface'], label: 'interface' },
  { key: 'cacert', flags: ['os-cacert'], env: ['OS_CACERT'], cloud: ['cacert'], label: 'cacert' },
  { key: 'insecure', flags: ['insecure'], env: ['OS_INSECURE'], cloud: ['insecure'], label: 'insecure' },
]

/** Settings each plugin takes; the rest are dropped, as the real plugins ignore them. */
const PLUGIN_FIELDS: Readonly<Record<AuthType, readonly string[]>> = {
  password: ['authUrl', 'username', 'userId', 'password', 'projectName', 'projectId', 'userDomainName', 'userDomainId', 'projectDomainName', 'projectDomainId', 'regionName'],
  token: ['authUrl', 'token', 'projectName', 'projectId', 'projectDomainName', 'projectDomainId', 'regionName'],
  none: ['endpoint'],
  admin_token: ['endpoint', 'token'],
}
const COMMON_FIELDS = ['authType', 'interface', 'cacert', 'insecure']

const AUTH_TYPE_ALIASES: Readonly<Record<string, AuthType>> = {
  password: 'password',
  v3password: 'password',
  token: 'token',
  v3token: 'token',
  none: 'none',
  admin_token: 'admin_token',
}

const SECRET_KEYS = new Set(['password', 'token'])

interface RawValue {
  value: unknown
  origin: ConfigOrigin
  /** How to name the source in messages: `--os-interface`, `OS_INTERFACE`, `interface in cloud 'x'`. */
  source: string
}

function kebab(key: string): string {
  return key.replace(/^-+/, '').replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())
}

function normaliseFlags(flags: Record<string, string | undefined>): Map<string, string> {
  const out = new Map<string, string>()
  for (const [k, v] of Object.entries(flags)) if (v !== undefined) out.set(kebab(k), v)
  return out
}

function isMapping(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** openstacksdk accepts `auth-url` as well as `auth_url` in clouds.yaml. */
function normaliseKeys(v: unknown): unknown {
  if (!isMapping(v)) return v
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k.replace(/-/g, '_'), normaliseKeys(x)]))
}

function quote(s: string): string {
  return `'${s}'`
}

/** Hides user:password@ in URLs before they go into a message. */
function redactUrl(url: string): string {
  return url.replace(/\/\/[^/@\s]*@/, '//***@')
}

function selectCloud(src: ConfigSources, flags: Map<string, string>): { name: string; entry: Record<string, unknown> } | undefined {
  // An explicit empty --os-cloud "" turns off an OS_CLOUD from the environment.
  const name = src.cloudName ?? flags.get('os-cloud') ?? src.env['OS_CLOUD']
  if (name === undefined || name === '') return undefined
  if (src.clouds === undefined) {
    throw new ConfigError('unknown_cloud', `cloud ${quote(name)} not found: no clouds.yaml file was found`)
  }
  if (!isMapping(src.clouds) || (src.clouds['clouds'] !== undefined && !isMapping(src.clouds['clouds']))) {
    throw new ConfigError('invalid_clouds', "invalid clouds.yaml: 'clouds' must be a mapping of cloud names to settings")
  }
  const clouds = (src.clouds['clouds'] ?? {}) as Record<string, unknown>
  const entry = clouds[name]
  if (entry === undefined) {
    const known = Object.keys(clouds).sort()
    throw new ConfigError('unknown_cloud', `cloud ${quote(name)} not found in clouds.yaml (known: ${known.length > 0 ? known.join(', ') : 'none'})`)
  }
  if (entry !== null && !isMapping(entry)) {
    throw new ConfigError('invalid_clouds', `invalid clouds.yaml: cloud ${quote(name)} must be a mapping`)
  }
  const normalised = normaliseKeys(entry ?? {}) as Record<string, unknown>
  if (normalised['auth'] !== undefined && normalised['auth'] !== null && !isMapping(normalised['auth'])) {
    throw new ConfigError('invalid_clouds', `invalid clouds.yaml: auth of cloud ${quote(name)} must be a mapping`)
  }
  return { name, entry: normalised }
}

function cloudLookup(entry: Record<string, unknown>, path: string): unknown {
  const [first, second] = path.split('.') as [string, string | undefined]
  const v = entry[first]
  if (second === undefined) return v
  return isMapping(v) ? v[second] : undefined
}

/** The cloud's value for a setting, including openstacksdk's `verify` and `regions` shorthands. */
function cloudValue(spec: FieldSpec, entry: Record<string, unknown>): { value: unknown; key: string } | undefined {
  for (const path of spec.cloud) {
    const v = cloudLookup(entry, path)
    if (v !== undefined && v !== null && v !== '') return { value: v, key: path }
  }
  const verify = entry['verify']
  if (spec.key === 'insecure' && typeof verify === 'boolean') return { value: !verify, key: 'verify' }
  if (spec.key === 'cacert' && typeof verify === 'string' && verify !== '') return { value: verify, key: 'verify' }
  if (spec.key === 'regionName' && Array.isArray(entry['regions']) && entry['regions'].length > 0) {
    const first: unknown = entry['regions'][0]
    const name = isMapping(first) ? first['name'] : first
    if (name !== undefined && name !== null) return { value: name, key: 'regions' }
  }
  return undefined
}

function rawValue(spec: FieldSpec, flags: Map<string, string>, env: ConfigSources['env'], cloud: { name: string; entry: Record<string, unknown> } | undefined): RawValue | null | undefined {
  for (const flag of spec.flags) {
    const v = flags.get(flag)
    if (v === undefined) continue
    if (v === '') return null
    return { value: v, origin: 'flag', source: `--${flag}` }
  }
  if (spec.key === 'insecure') {
    const verify = flags.get('verify')
    if (verify !== undefined && verify !== '') {
      return { value: String(!parseBoolean(verify, '--verify')), origin: 'flag', source: '--verify' }
    }
  }
  for (const name of spec.env) {
    const v = env[name]
    if (v !== undefined && v !== '') return { value: v, origin: 'env', source: name }
  }
  if (cloud) {
    const found = cloudValue(spec, cloud.entry)
    if (found) return { value: found.value, origin: 'cloud', source: `${found.key} in cloud ${quote(cloud.name)}` }
  }
  return undefined
}

function parseBoolean(text: string, source: string): boolean {
  const t = text.trim().toLowerCase()
  if (['true', '1', 'yes', 'on'].includes(t)) return true
  if (['false', '0', 'no', 'off'].includes(t)) return false
  throw new ConfigError('invalid_boolean', `invalid ${source} ${quote(text)}: expected true or false`)
}

function asString(raw: RawValue, key: string): string {
  const v = raw.value
  if (typeof v === 'string') return v
  if (typeof v === 'number' || typeof v === 'bigint') return String(v)
  const what = SECRET_KEYS.has(key) ? '' : ` (got ${Array.isArray(v) ? 'a list' : typeof v === 'object' ? 'a mapping' : typeof v})`
  throw new ConfigError('invalid_clouds', `invalid clouds.yaml: ${raw.source} must be a string${what}`)
}

function checkUrl(value: string, raw: RawValue): void {
  let ok = false
  try {
    const u = new URL(value)
    ok = u.protocol === 'http:' || u.protocol === 'https:'
  } catch {
    ok = false
  }
  if (!ok) throw new ConfigError('invalid_url', `invalid ${raw.source} ${quote(redactUrl(value))}: expected an http or https url`)
}

function hint(spec: FieldSpec): string {
  return `--${spec.flags[0]} or ${spec.env[0]}`
}

function fieldSpec(key: FieldSpec['key']): FieldSpec {
  return FIELDS.find((f) => f.key === key) as FieldSpec
}

function missing(code: string, key: FieldSpec['key'], plugin: AuthType): ConfigError {
  const spec = fieldSpec(key)
  return new ConfigError(code, `missing value ${spec.label} required for auth plugin ${plugin}; set ${hint(spec)}`)
}

/**
 * Resolves the auth options from flags, environment and clouds.yaml (see the module comment for
 * the precedence). When no auth type is given it is inferred: `password` with a username or
 * user id, `token` with only a token, `none` with only an endpoint, else `password`. Password
 * auth without a domain gets user and project domain id `default`, as osc-lib does. Throws
 * ConfigError for an unknown cloud, a bad value, or a setting the chosen plugin needs.
 */
export function resolveAuthOptions(src: ConfigSources): ResolvedAuth {
  const flags = normaliseFlags(src.flags)
  const cloud = selectCloud(src, flags)
  const values: Record<string, unknown> = {}
  const origin: Record<string, ConfigOrigin> = {}
  const sources: Record<string, RawValue> = {}

  for (const spec of FIELDS) {
    const raw = rawValue(spec, flags, src.env, cloud)
    if (raw === null || raw === undefined) continue
    sources[spec.key] = raw
    origin[spec.key] = raw.origin
    if (spec.key === 'insecure') {
      values[spec.key] = typeof raw.value === 'boolean' ? raw.value : parseBoolean(asString(raw, spec.key), raw.source)
    } else {
      values[spec.key] = asString(raw, spec.key)
    }
  }

  let authType: AuthType
  if (values['authType'] !== undefined) {
    const given = values['authType'] as string
    const t = AUTH_TYPE_ALIASES[given]
    if (t === undefined) {
      throw new ConfigError('invalid_auth_type', `unsupported auth type ${quote(given)} from ${(sources['authType'] as RawValue).source}; use password, token, none or admin_token`)
    }
    authType = t
  } else {
    if (values['username'] !== undefined || values['userId'] !== undefined) authType = 'password'
    else if (values['token'] !== undefined) authType = 'token'
    else if (values['endpoint'] !== undefined) authType = 'none'
    else authType = 'password'
    origin['authType'] = 'default'
  }

  let iface: EndpointInterface = 'public'
  if (values['interface'] !== undefined) {
    const given = values['interface'] as string
    // keystoneauth accepts the v2 spellings publicURL/internalURL/adminURL too.
    const normalised = given.endsWith('URL') ? given.slice(0, -3) : given
    if (normalised !== 'public' && normalised !== 'internal' && normalised !== 'admin') {
      throw new ConfigError('invalid_interface', `invalid interface ${quote(given)} from ${(sources['interface'] as RawValue).source}; use public, internal or admin`)
    }
    iface = normalised
  } else {
    origin['interface'] = 'default'
  }

  const keep = new Set([...COMMON_FIELDS, ...PLUGIN_FIELDS[authType]])
  const options: AuthOptions = { authType, interface: iface }
  for (const key of Object.keys(values)) {
    if (key === 'authType' || key === 'interface') continue
    if (!keep.has(key)) {
      delete origin[key]
      continue
    }
    ;(options as unknown as Record<string, unknown>)[key] = values[key]
  }

  if (authType === 'password') {
    if (!options.userDomainId && !options.userDomainName) {
      options.userDomainId = 'default'
      origin['userDomainId'] = 'default'
    }
    if (!options.projectDomainId && !options.projectDomainName) {
      options.projectDomainId = 'default'
      origin['projectDomainId'] = 'default'
    }
  }

  validate(options, sources)
  return { options, origin }
}

function validate(o: AuthOptions, sources: Record<string, RawValue>): void {
  const plugin = o.authType
  if (plugin === 'password' || plugin === 'token') {
    if (!o.authUrl) throw missing('missing_auth_url', 'authUrl', plugin)
    checkUrl(o.authUrl, sources['authUrl'] as RawValue)
  }
  if (plugin === 'password') {
    if (!o.username && !o.userId) {
      throw new ConfigError('missing_username', 'missing value username required for auth plugin password; set --os-username or OS_USERNAME (or --os-user-id or OS_USER_ID)')
    }
    if (!o.password) {
      throw new ConfigError('missing_password', 'no password entered, or found via --os-password or OS_PASSWORD')
    }
  }
  if ((plugin === 'token' || plugin === 'admin_token') && !o.token) throw missing('missing_token', 'token', plugin)
  if (plugin === 'none' || plugin === 'admin_token') {
    if (!o.endpoint) throw missing('missing_endpoint', 'endpoint', plugin)
    checkUrl(o.endpoint, sources['endpoint'] as RawValue)
  }
}
