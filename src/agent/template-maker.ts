import { mkdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { AgentBootstrap } from '../protocol/index.js'
import { loadDatastore } from './datastores/index.js'
import { lookupUser, oneLine } from './engine-process.js'
import { timestampedLog } from './log.js'
import { instancePaths } from './preparation.js'
import { TemplateCache } from './template-cache.js'

/**
 * `trove agent --make-template --config FILE` (server/compute/sandbox-template.ts): makes the engine's
 * pre-initialised data dir, exactly as an agent's template cache makes one (install-db or initdb as the
 * run user, template.json, synced), under `<baseDir>/templates/<key>`, then exits: no broker, no engine
 * start. The server runs it in a sandbox of its own, which no tenant ever reaches, and copies the result
 * into each new sandboxed instance's volume. Exit code 0 when the template is made.
 */
export async function makeTemplate(config: string): Promise<number> {
  const log = timestampedLog()
  try {
    const bootstrap = JSON.parse(await readFile(config, 'utf8')) as AgentBootstrap
    const paths = instancePaths(bootstrap.baseDir)
    const user = await lookupUser(bootstrap.runUser)
    const ds = await loadDatastore(bootstrap.datastore.manager, { bootstrap, paths, user, log })
    const dir = join(bootstrap.baseDir, 'templates')
    await mkdir(dir, { recursive: true, mode: 0o700 })
    const cache = new TemplateCache({ dir, manager: bootstrap.datastore.manager, user, instanceId: bootstrap.instanceId, log })
    const t0 = Date.now()
    const made = await cache.provide(ds, await cache.identify(ds))
    log(`template ${made.key} made in ${Date.now() - t0} ms`)
    return 0
  } catch (err) {
    log(`template: ${oneLine((err as Error).message)}`)
    return 1
  }
}
