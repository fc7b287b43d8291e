import type { EngineManager } from '../../protocol/index.js'
import type { DetectedEngine } from './engines.js'

/** The datastore managers this lab's agent can run (upstream's datastore_manager names). */
export const RUNNABLE_MANAGERS: readonly EngineManager[] = ['mariadb', 'mysql', 'postgresql', 'redis']

export function isRunnableManager(m: string): m is EngineManager {
  return (RUNNABLE_MANAGERS as readonly string[]).includes(m)
}

/**
 * The installed engine that can run a datastore version: same manager, and the
 * version number is the engine's full version or a dotted prefix of it ("7.0" and
 * "7" match 7.0.15, "16" matches 16.4, "1" does not match 16.4). A version number
 * the installed binaries cannot honour matches nothing: such a version cannot be
 * active, because instances of it could not start.
 */
export function installedEngineFor(engines: readonly DetectedEngine[], manager: string, version: string): DetectedEngine | undefined {
  return engines.find((e) => e.manager === manager && (e.version === version || e.version.startsWith(`${version}.`)))
}

/** "redis 7.0.15, postgresql 16.4" (for messages), or "none". */
export function describeEngines(engines: readonly DetectedEngine[], manager?: string): string {
  const shown = engines.filter((e) => !manager || e.manager === manager).map((e) => `${e.manager} ${e.version}`)
  return shown.length ? shown.join(', ') : 'none'
}
