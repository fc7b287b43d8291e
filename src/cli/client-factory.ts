import { readFileSync } from 'node:fs'
import { TroveClient } from '../sdk/client.js'
import { resolveCliAuth } from './config/index.js'
import { fileTokenCache } from './config/token-file.js'
import type { IO } from './spec.js'

/** The package version, read once (bin/trove and the man pages show it). */
export const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version

/** The SDK client of a CLI run: flags > OS_* > clouds.yaml, the token cache, --debug lines on stderr. */
export function makeClient(globals: Record<string, unknown>, io: IO): TroveClient {
  const tokenCache = fileTokenCache(io.env)
  const client = new TroveClient({
    auth: resolveCliAuth(globals as Record<string, string | undefined>, io.env),
    userAgent: `trove/${VERSION}`,
    ...(tokenCache ? { tokenCache } : {}),
    ...(globals.debug ? { debug: (l: string) => io.stderr(`${l}\n`) } : {}),
  })
  // Ctrl-C: drop the connections so a pending request ends now (main() then exits 3).
  io.signal?.addEventListener('abort', () => { void client.close() }, { once: true })
  return client
}
