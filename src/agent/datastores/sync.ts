import type { SyncSpec, SyncView } from '../../protocol/index.js'

/**
 * One engine's synchronous replication (protocol/sync.ts, docs/ha.md): its settings live in a file of
 * their own under conf/ (never in the data dir, so pg_basebackup and pg_rewind copy none of them to
 * another member), included by the engine's main config and applied at once.
 */
export interface EngineSync {
  /** Writes the member's settings (null: none) and applies them to the running engine. */
  apply(spec: SyncSpec | null): Promise<void>
  /** The primary's view: configured to wait, and how many replicas can acknowledge now. */
  view(): Promise<SyncView>
  /** After the main config was rendered again (resize, access): the settings stay included. */
  keepIncluded(): Promise<void>
}
