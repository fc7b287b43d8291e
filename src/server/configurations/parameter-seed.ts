import type { DB } from '../db/index.js'
import { configurationStore } from '../db/configurations.js'
import { datastoreVersions } from '../db/datastore-versions.js'
import { rulesFor } from './rules.js'

/**
 * Gives datastore versions the parameters of their manager's upstream validation
 * rules (what upstream's `trove-manage db_load_datastore_config_parameters` does by
 * hand). Runs at every start, so a newly registered engine version gets its rows;
 * it is idempotent, and what an admin changed through the mgmt API stays. Pass
 * versionIds to seed only those (e.g. a version an admin just created).
 * Returns the number of rows written.
 */
export function seedConfigurationParameters(db: DB, versionIds?: string[]): number {
  const { parameters } = configurationStore(db)
  const versions = datastoreVersions(db).managers()
  const only = versionIds ? new Set(versionIds) : undefined
  let written = 0
  db.transaction(() => {
    for (const v of versions) {
      if (only && !only.has(v.id)) continue
      const specs = rulesFor(v.manager).map((r) => ({ name: r.name, restart_required: r.restart_required, data_type: r.type, max_size: r.max, min_size: r.min }))
      written += parameters.syncRules(v.id, specs)
    }
  })()
  return written
}
