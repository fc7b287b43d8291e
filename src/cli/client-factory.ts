import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { TroveClient } from '../sdk/client.js'
import { resolveCliAuth } from './config/index.js'
import { fileTokenCache } from './config/token-file.js'
import type { IO } from './spec.js'

/** The package version, read once (bin/trove and the man pages show it). */
export const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version

const DIGITS = /\d{16}/
let lossless: typeof import('lossless-json') | undefined

/**
 * JSON as Python reads it: integers beyond 2^53 (MySQL parameter maxima such as
 * 18446744073709551615) stay exact, as bigints, and print as sent. lossless-json loads
 * only for a body with a run of 16 digits; everything else takes plain JSON.parse (the
 * fast path).
 */
export function exactJson(text: string): unknown {
  if (!DIGITS.test(text)) return JSON.parse(text)
  lossless ??= createRequire(import.meta.url)('lossless-json') as typeof import('lossless-json')
  const { parse, isInteger } = lossless
  try {
    return parse(text, null, (s: string) => {
      const n = Number(s)
      return isInteger(s) && !Number.isSafeInteger(n) ? BigInt(s) : n
    })
  } catch {
    return JSON.parse(text) // what lossless-json refuses and JSON.parse takes: duplicate keys (the last wins, as in Python)
  }
}

/** JSON text of a request body; bigints (from exactJson or parseValues) are written as their digits. */
export function exactJsonText(value: unknown): string {
  if (!containsBigint(value)) return JSON.stringify(value)
  lossless ??= createRequire(import.meta.url)('lossless-json') as typeof import('lossless-json')
  return lossless.stringify(value) ?? 'null'
}

function containsBigint(value: unknown): boolean {
  if (typeof value === 'bigint') return true
  if (value === null || typeof value !== 'object') return false
  return Object.values(value).some(containsBigint)
}

/** The SDK client of a CLI run: flags > OS_* > clouds.yaml, the token cache, --debug lines on stderr. */
export function makeClient(globals: Record<string, unknown>, io: IO): TroveClient {
  const tokenCache = fileTokenCache(io.env)
  const client = new TroveClient({
    auth: resolveCliAuth(globals as Record<string, string | undefined>, io.env),
    userAgent: `trove/${VERSION}`,
    parseJson: exactJson,
    stringifyJson: exactJsonText,
    ...(tokenCache ? { tokenCache } : {}),
    ...(globals.debug ? { debug: (l: string) => io.stderr(`${l}\n`) } : {}),
  })
  // Ctrl-C: drop the connections so a pending request ends now (main() then exits 3).
  io.signal?.addEventListener(
    'abort',
    () => {
      void client.close()
    },
    { once: true },
  )
  return client
}
