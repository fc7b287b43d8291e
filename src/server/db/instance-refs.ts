import type { DB } from './index.js'
import { StatementCache, perDb } from './statements.js'

/** A datastore_versions row (the columns of http/views.ts's VersionRow, plus bin_dir). */
export interface VersionRecord {
  id: string
  datastore_id: string
  name: string
  manager: string
  version: string
  image_id: string | null
  image_tags: string
  packages: string
  active: number
  registry_ext: string | null
  repl_strategy: string | null
  bin_dir: string | null
}

/** A flavors row. */
export interface FlavorRecord {
  id: string
  name: string
  ram: number
  vcpus: number
  disk: number
  ephemeral: number
}

/**
 * Read-only look-ups of the rows an instance refers to (its flavor, datastore version,
 * datastore, configuration group), as the instance domain and its flows need them.
 * Those tables' own repositories (and writes) belong to their domains.
 */
export class InstanceRefs {
  private readonly st: StatementCache

  constructor(db: DB) {
    this.st = new StatementCache(db)
  }

  flavor(id: string): FlavorRecord | undefined {
    return this.st.get('SELECT * FROM flavors WHERE id = ?').get(id) as FlavorRecord | undefined
  }

  version(id: string): VersionRecord | undefined {
    return this.st.get('SELECT * FROM datastore_versions WHERE id = ?').get(id) as VersionRecord | undefined
  }

  /** Every version of a datastore. */
  versionsOf(datastoreId: string): VersionRecord[] {
    return this.st.get('SELECT * FROM datastore_versions WHERE datastore_id = ?').all(datastoreId) as VersionRecord[]
  }

  datastoreName(id: string): string | undefined {
    return this.st.pluck('SELECT name FROM datastores WHERE id = ?').get(id) as string | undefined
  }

  configurationName(id: string): string | undefined {
    return this.st.pluck('SELECT name FROM configurations WHERE id = ?').get(id) as string | undefined
  }
}

export const instanceRefs = perDb((db) => new InstanceRefs(db))
