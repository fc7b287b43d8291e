/**
 * The openstack client's configuration rules as one function: `--os-*` style flags > `OS_*`
 * environment > the clouds.yaml entry named by `OS_CLOUD` (or `cloud`) > defaults. The CLI uses
 * it, and SDK users call it to get the same AuthOptions: `new TroveClient({ auth: resolveAuth() })`.
 */
import { ConfigError, resolveAuthOptions, type AuthOptions, type ResolvedAuth } from './config.js'
import { candidateFiles, loadClouds, resolveConfigFs, type ConfigFs } from './clouds-file.js'

/** Where resolveAuth reads from; every field is optional. */
export interface ResolveAuthSources {
  /** The environment (default: process.env). */
  env?: Record<string, string | undefined>
  /** The cloud to use, as `--os-cloud` (default: OS_CLOUD). */
  cloud?: string
  /** Settings that win over the environment, keyed like the flags: `os-auth-url`, `os-password`, ... */
  flags?: Record<string, string | undefined>
  /** File-system access (tests inject temp directories). */
  fs?: Partial<ConfigFs>
}

function displayPath(file: string, home: string): string {
  return home && file.startsWith(home + '/') ? '~' + file.slice(home.length) : file
}

/**
 * Like `resolveAuth`, but also returns where each setting came from.
 * clouds.yaml is only read when a cloud is selected (`cloud`, `--os-cloud` or `OS_CLOUD`).
 * Throws ConfigError (one lower-case line) for an unknown cloud or a bad file.
 */
export function resolveAuthWithOrigin(src: ResolveAuthSources = {}): ResolvedAuth {
  const env = src.env ?? process.env
  const flags = { ...(src.flags ?? {}) }
  if (src.cloud !== undefined) flags['os-cloud'] = src.cloud
  const flagCloud = flags['os-cloud'] ?? flags['osCloud']
  const cloudName = flagCloud ?? env['OS_CLOUD']
  if (cloudName === undefined || cloudName === '') return resolveAuthOptions({ flags, env })
  const loaded = loadClouds(env, src.fs)
  if (loaded.document === undefined) {
    const fsFull = resolveConfigFs(env, src.fs)
    const home = fsFull.homedir()
    const searched = candidateFiles('clouds', fsFull)
      .filter((f) => f.endsWith('.yaml'))
      .map((f) => displayPath(f, home))
    throw new ConfigError('unknown_cloud', `cloud '${cloudName}' not found: no clouds.yaml in ${searched.join(', ')}`)
  }
  return resolveAuthOptions({ flags, env, clouds: loaded.document, cloudName })
}

/** The AuthOptions the openstack CLI would use here (clouds.yaml, OS_CLOUD, OS_*); see resolveAuthWithOrigin. */
export function resolveAuth(src: ResolveAuthSources = {}): AuthOptions {
  return resolveAuthWithOrigin(src).options
}
