/**
 * The CLI side of configuration: which environment variables exist, and turning flags plus
 * environment into the SDK's AuthOptions (the SDK's resolveAuth: SDK users get the same rules).
 */
import type { AuthOptions, ResolvedAuth } from '../../sdk/auth/config.js'
import type { ConfigFs } from '../../sdk/auth/clouds-file.js'
import { resolveAuthWithOrigin } from '../../sdk/auth/resolve.js'

export { ENV_VARS, type EnvVar } from './env-vars.js'
export { loadClouds, mergeClouds, candidateFiles, configSearchDirs, resolveConfigFs, type ConfigFs, type LoadedClouds } from '../../sdk/auth/clouds-file.js'
export { ConfigError, type AuthOptions, type ConfigOrigin, type ResolvedAuth } from '../../sdk/auth/config.js'

/** Like `resolveCliAuth`, but also returns where each setting came from (for `--debug`). */
export function resolveCliAuthWithOrigin(flags: Record<string, string | undefined>, env: Record<string, string | undefined>, fsImpl: Partial<ConfigFs> = {}): ResolvedAuth {
  return resolveAuthWithOrigin({ flags, env, fs: fsImpl })
}

/**
 * What the CLI calls: flags (`os-auth-url` or commander's `osAuthUrl` keys) > `OS_*`
 * environment > clouds.yaml entry > defaults. Throws ConfigError (one lower-case line).
 */
export function resolveCliAuth(flags: Record<string, string | undefined>, env: Record<string, string | undefined>, fsImpl: Partial<ConfigFs> = {}): AuthOptions {
  return resolveAuthWithOrigin({ flags, env, fs: fsImpl }).options
}
