import type { MeasuredStatus } from '../protocol/index.js'

/** What the supervisor knows about the engine; the status is derived from it alone. */
export interface EngineState {
  /** building: prepare has not finished; failed: prepare failed; ready: prepared. */
  phase: 'building' | 'failed' | 'ready'
  /** An engine process is alive (a zombie counts as dead). */
  alive: boolean
  /** The engine answered its last probe. */
  answering: boolean
  /** Why the last engine process ended: asked to (stop_db, restart) or on its own. */
  lastExit: 'none' | 'stopped' | 'crashed'
}

/**
 * The status a heartbeat reports (internals.md 3.2, "for local processes"): answering
 * -> HEALTHY, up but not answering -> RUNNING, gone after a requested stop -> SHUTDOWN,
 * gone on its own -> CRASHED. Prepare's own phases win over what the process does.
 */
export function deriveStatus(s: EngineState): MeasuredStatus {
  if (s.phase === 'failed') return 'FAILED'
  if (s.phase === 'building') return 'BUILDING'
  if (s.alive) return s.answering ? 'HEALTHY' : 'RUNNING'
  return s.lastExit === 'crashed' ? 'CRASHED' : 'SHUTDOWN'
}
