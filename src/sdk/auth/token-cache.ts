import { createHash } from 'node:crypto'
import type { AuthOptions } from './config.js'
import type { TokenInfo } from './keystone.js'

/**
 * Where a client may keep Keystone tokens between processes (the CLI keeps them in a
 * 0600 file). The SDK reads no files itself: it only calls these.
 */
export interface TokenCache {
  get(key: string): TokenInfo | undefined
  set(key: string, info: TokenInfo): void
  delete(key: string): void
}

/** A cached token is used until this close to its expiry. */
export const TOKEN_REUSE_MARGIN_MS = 5 * 60_000

/**
 * The cache key of a set of credentials: the auth URL, user, project and scope, and a
 * hash of the secret, so a changed password or token never reuses another's token.
 */
export function tokenCacheKey(a: AuthOptions): string {
  const secret = createHash('sha256')
    .update(`${a.password ?? ''}\0${a.token ?? ''}`)
    .digest('hex')
  const parts = [a.authType, a.authUrl, a.username, a.userId, a.userDomainName, a.userDomainId, a.projectName, a.projectId, a.projectDomainName, a.projectDomainId, a.interface, a.regionName, secret]
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 32)
}

/** True when the token is valid for longer than the reuse margin. */
export function tokenStillGood(info: TokenInfo, now = Date.now()): boolean {
  const exp = Date.parse(info.expiresAt)
  return Number.isFinite(exp) && exp - now > TOKEN_REUSE_MARGIN_MS
}
