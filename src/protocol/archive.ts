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
 * How a hole in the archive (segment seqs `from` to `to`, both missing) is named, by the
 * PostgreSQL agent in its status detail and by the server in its refusals: one wording,
 * whichever of them sees the hole first.
 */
export const archiveHoleText = (h: { from: number; to: number }): string =>
  h.from === h.to ? `segment ${h.from} is missing from the archive` : `segments ${h.from} to ${h.to} are missing from the archive`

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

/**
 * The archive through the object store (a sandboxed instance: docs/pitr.md, "From a sandbox"). The
 * agent's archiver writes into its own volume; the agent ships each file as the object
 * `archive/<instance id>/<file name>`: a sealed segment once (its claimed commit times in the
 * ARCHIVE_HEADERS; the server computes sha256, size and seq itself and writes the sidecar), the open
 * one again and again (replaceable until its segment is sealed; `offset` appends to what was shipped).
 * A restoring agent GETs `archive/<source id>` (the names its RestoreSpec may read, JSON) and each of them.
 */
export const ARCHIVE_CONTAINER = 'archive'

/** What an archive object may be called: WAL segments (open: `.partial`), timeline histories, binlogs. */
export const ARCHIVE_OBJECT_NAME = /^(?:[0-9A-F]{24}(?:\.partial)?|[0-9A-F]{8}\.history|mysql-bin\.[0-9]{6,9})(?:\.seg\.json)?$/

/** Request headers of an archive PUT. */
export const ARCHIVE_HEADERS = {
  /** Sealing: the segment is complete; the agent's claims about its first and last commit ('' when none). */
  firstTime: 'x-archive-first-time',
  lastTime: 'x-archive-last-time',
  /**
   * Sealing what the store holds already (an empty body): the open object, whole, has this sha256
   * (the agent's sidecar); the server checks it over its own bytes (409 when not: then sent whole).
   */
  sha256: 'x-archive-sha256',
  /** Appending to the open object from this byte on (it must hold at least that much). */
  offset: 'x-archive-offset',
} as const

/**
 * The seq of an archive file from its name (protocol ArchiveSegment.seq): PostgreSQL log id *
 * segments per log id + segment (`segSize`: wal_segment_size), MariaDB the binlog's suffix.
 */
export function segmentSeqOf(name: string, segSize = 16 << 20): number | undefined {
  const wal = /^[0-9A-F]{8}([0-9A-F]{8})([0-9A-F]{8})(?:\.partial)?$/.exec(name)
  if (wal) return Number.parseInt(wal[1]!, 16) * (0x100000000 / segSize) + Number.parseInt(wal[2]!, 16)
  const bin = /^mysql-bin\.([0-9]{6,9})(?:\.partial)?$/.exec(name)
  return bin ? Number(bin[1]) : undefined
}
