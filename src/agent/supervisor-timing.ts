// The supervisor's timings (supervisor.ts).

/** How long prepare waits for a fresh engine to answer before reporting FAILED. */
export const PREPARE_ANSWER_MS = 120_000
/**
 * Fast polling after a (re)start; afterwards the heartbeat's probe takes over. Every 5 ms for
 * the first 2 s (a Redis answers ~40 ms after its start: each 25 ms step cost ~12 ms on average
 * of create -> ACTIVE, issue 11; a probe of an engine not yet listening is one failed connect),
 * then every 25 ms.
 */
export const START_ANSWER_MS = 120_000
export const POLL_MS = 25
export const POLL_FIRST_MS = 5
export const POLL_FIRST_FOR_MS = 2000
/** A graceful stop gets this long before SIGKILL. */
export const STOP_GRACE_MS = 60_000
/** What a stop waits at most for the archiver to stop (it ships its last segment), then for the agent's connections to close. */
export const BEFORE_STOP_MS = 15_000
export const CLOSE_DRIVERS_MS = 5_000
/** How long stop_db (the lease's fence) waits behind another operation before it kills the engine (stopDb). */
export const STOP_QUEUE_MS = 10_000
/** A deposed primary's engine made read-only within this, or killed and started read-only (ejectedNow). */
export const EJECT_FENCE_MS = 10_000
/** Crash restarts back off from 0.5 s, doubling up to 30 s; 60 s of health resets it. */
export const BACKOFF_MIN_MS = 500
export const BACKOFF_MAX_MS = 30_000
export const BACKOFF_RESET_MS = 60_000
