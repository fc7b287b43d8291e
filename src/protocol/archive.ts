/**
 * Continuous archiving for point-in-time recovery (issue 15, items 3-4): the contract
 * between the agent (which streams the engine's log into the store) and the server
 * (which works out the restore window and picks what a restore needs).
 *
 * Layout: `<backupDir>/archive/<instance_id>/` holds the instance's log segments
 * (PostgreSQL WAL segments, MariaDB binlog files) under the engine's own file names.
 * The agent writes a segment while it is open (the engine's records carry their own
 * CRC), and when the segment is complete it writes, through `<name>.seg.json.tmp`,
 * fsync and rename, the sidecar `<name>.seg.json` (an ArchiveSegment). A segment
 * without its sidecar is the open one (or was cut short) and is replayed only up to
 * its last whole record. The directory outlives the instance, like its automated
 * backups (removed with them when the retention period ends).
 */

/** The archive directory of an instance in the store. */
export const archiveDirOf = (backupDir: string, instanceId: string): string => `${backupDir.replace(/\/+$/, '')}/archive/${instanceId}`

/** The sidecar of a complete segment. */
export const SEGMENT_SIDECAR_SUFFIX = '.seg.json'

/** What `<name>.seg.json` holds. */
export interface ArchiveSegment {
  /** The segment's file name in the archive directory. */
  name: string
  /**
   * Position of the segment in the instance's log, consecutive integers with no hole
   * when nothing is missing (PostgreSQL: the segment number across timelines, i.e.
   * log id * (2^32 / wal_segment_size) + seg of the name (XLogFromFileName; `log id << 32 |
   * seg` would jump at each log id boundary); MariaDB: the binlog file's numeric suffix). A
   * hole between two sidecars is a gap.
   */
  seq: number
  /** sha256 (hex) of the file as written; checked before a restore replays it. */
  sha256: string
  bytes: number
  /** Commit time (ISO 8601 UTC) of the first and last transaction in the segment; null if it holds none. */
  first_time: string | null
  last_time: string | null
}

/**
 * The agent's view of its archiver, in each heartbeat (AgentEvent 'heartbeat'.archive).
 * The server stores it on the instance (state, detail, latest time), so the window can
 * still be worked out after the instance is deleted.
 */
export interface ArchiveStatus {
  /**
   * off: not archiving (retention 0, or the engine has no archive: Redis);
   * streaming: running and caught up; lagging: running, behind by more than a second;
   * gap: a segment is missing (detail says which), restores past it are refused;
   * failed: the archiver stopped and cannot restart (detail says why).
   */
  state: 'off' | 'streaming' | 'lagging' | 'gap' | 'failed'
  /** Commit time (ISO 8601 UTC) of the newest transaction known to be in the archive, open segment included. */
  latest_time: string | null
  detail?: string
}

/**
 * Where a base backup starts in the log, recorded by the agent in the backup's meta
 * (`<id>.meta.json`, key `archive`) when it completes, so that the server can check the
 * archive covers the range from the backup to a restore time.
 */
export interface ArchiveStart {
  /** The seq of the segment that holds the backup's consistent point. */
  seq: number
  /** Engine position of the consistent point: PostgreSQL 'TLI/LSN', MariaDB 'binlog-file:pos' (+ GTID). */
  position: string
  /** Time of that point (ISO 8601 UTC): the earliest time a restore from this backup can reach. */
  time: string
}

/**
 * RestoreSpec.pitr: after the chain is restored, replay the archive of the source
 * instance, from the base backup's ArchiveStart up to `target` (the last transaction
 * committed at or before that time, inclusive) or, for 'latest', to the end of what
 * the archive holds (the open segment included). The server has checked the window
 * and that no segment in the range is missing; the agent checks each segment's
 * sha256 (when it has a sidecar) before it replays it and fails the prepare clearly
 * on a mismatch.
 */
export interface PitrSpec {
  archiveDir: string
  target: { time: string } | 'latest'
  /** The base backup's start in the log (from its meta). */
  start: ArchiveStart
}
