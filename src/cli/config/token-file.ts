import { chmodSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { TokenCache } from '../../sdk/auth/token-cache.js'
import type { TokenInfo } from '../../sdk/auth/keystone.js'

/** `$XDG_CACHE_HOME/trove/tokens`, else `~/.cache/trove/tokens`; undefined without a home. */
export function tokenCacheDir(env: Record<string, string | undefined>): string | undefined {
  const base = env.XDG_CACHE_HOME || (env.HOME && env.HOME !== '/nonexistent' ? join(env.HOME, '.cache') : undefined)
  return base ? join(base, 'trove', 'tokens') : undefined
}

/**
 * Drops the entries no run can use any more: expired tokens (clouds not used since, labs that
 * are gone) and files that do not parse. Runs at each login, so the directory stays small.
 */
function prune(dir: string): void {
  try {
    for (const name of readdirSync(dir)) {
      if (!name.endsWith('.json')) continue
      try {
        const info = JSON.parse(readFileSync(join(dir, name), 'utf8')) as Partial<TokenInfo>
        if (Number.isFinite(Date.parse(String(info.expiresAt))) && Date.parse(String(info.expiresAt)) > Date.now()) continue
      } catch {
        /* unreadable: dropped */
      }
      rmSync(join(dir, name), { force: true })
    }
  } catch {
    /* no directory */
  }
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
      prune(dir)
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
