/**
 * The CLI side of configuration: which environment variables exist, reading clouds.yaml, and
 * turning flags plus environment into the SDK's AuthOptions.
 */
import { ConfigError, resolveAuthOptions, type AuthOptions, type ResolvedAuth } from '../../sdk/auth/config.js'
import { candidateFiles, loadClouds, resolveConfigFs, type ConfigFs } from './clouds-file.js'

export { ENV_VARS, type EnvVar } from './env-vars.js'
export { loadClouds, mergeClouds, candidateFiles, configSearchDirs, resolveConfigFs, type ConfigFs, type LoadedClouds } from './clouds-file.js'
export { ConfigError, type AuthOptions, type ConfigOrigin, type ResolvedAuth } from '../../sdk/auth/config.js'

function displayPath(file: string, home: string): string {
  return home && file.startsWith(home + '/') ? '~' + file.slice(home.length) : file
}

/**
 * Like `resolveCliAuth`, but also returns where each setting came from (for `--debug`).
 * clouds.yaml is only read when a cloud is selected (`--os-cloud` or `OS_CLOUD`).
 */
export function resolveCliAuthWithOrigin(
  flags: Record<string, string | undefined>,
  env: Record<string, string | undefined>,
  fsImpl: Partial<ConfigFs> = {},
): ResolvedAuth {
  const flagCloud = flags['os-cloud'] ?? flags['osCloud']
  const cloudName = flagCloud ?? env['OS_CLOUD']
  if (cloudName === undefined || cloudName === '') return resolveAuthOptions({ flags, env })
  const loaded = loadClouds(env, fsImpl)
  if (loaded.document === undefined) {
    const fsFull = resolveConfigFs(env, fsImpl)
    const home = fsFull.homedir()
    const searched = candidateFiles('clouds', fsFull)
      .filter((f) => f.endsWith('.yaml'))
      .map((f) => displayPath(f, home))
    throw new ConfigError('unknown_cloud', `cloud '${cloudName}' not found: no clouds.yaml in ${searched.join(', ')}`)
  }
  return resolveAuthOptions({ flags, env, clouds: loaded.document, cloudName })
}

/**
 * What the CLI calls: flags (`os-auth-url` or commander's `osAuthUrl` keys) > `OS_*`
 * environment > clouds.yaml entry > defaults. Throws ConfigError (one lower-case line).
 */
export function resolveCliAuth(
  flags: Record<string, string | undefined>,
  env: Record<string, string | undefined>,
  fsImpl: Partial<ConfigFs> = {},
): AuthOptions {
  return resolveCliAuthWithOrigin(flags, env, fsImpl).options
}
