import { chmodSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { TokenCache } from '../../sdk/auth/token-cache.js'
import type { TokenInfo } from '../../sdk/auth/keystone.js'

/** `$XDG_CACHE_HOME/trove/tokens`, else `~/.cache/trove/tokens`; undefined without a home. */
export function tokenCacheDir(env: Record<string, string | undefined>): string | undefined {
  const base = env.XDG_CACHE_HOME || (env.HOME && env.HOME !== '/nonexistent' ? join(env.HOME, '.cache') : undefined)
  return base ? join(base, 'trove', 'tokens') : undefined
}

/**
 * Keystone tokens kept between CLI runs, one 0600 file per credentials key in a 0700
 * directory; `TROVE_NO_TOKEN_CACHE=1` turns it off. Failures to read or write are
 * ignored: the cache only saves a login.
 */
export function fileTokenCache(env: Record<string, string | undefined>): TokenCache | undefined {
  if (env.TROVE_NO_TOKEN_CACHE === '1' || env.TROVE_NO_TOKEN_CACHE === 'true') return undefined
  const dir = tokenCacheDir(env)
  if (!dir) return undefined
  const file = (key: string) => join(dir, `${key}.json`)
  return {
    get(key) {
      try {
        const info = JSON.parse(readFileSync(file(key), 'utf8')) as TokenInfo
        return typeof info.token === 'string' && Array.isArray(info.catalog) ? info : undefined
      } catch {
        return undefined
      }
    },
    set(key, info) {
      try {
        mkdirSync(dir, { recursive: true, mode: 0o700 })
        chmodSync(dir, 0o700)
        const tmp = `${file(key)}.${process.pid}.tmp`
        writeFileSync(tmp, JSON.stringify(info), { mode: 0o600 })
        renameSync(tmp, file(key))
      } catch {
        /* read-only home: no cache */
      }
    },
    delete(key) {
      try {
        rmSync(file(key), { force: true })
      } catch {
        /* gone */
      }
    },
  }
}
