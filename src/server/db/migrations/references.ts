/**
 * The tables whose rows point at a datastore version, declared by the schema's owner
 * beside the migrations that create them (test/server/db/references.ts compares this
 * list with the foreign keys SQLite reports, so a new table cannot be forgotten).
 * Deleting a version (routes/datastore-admin.ts) consults each of them:
 *  - `resource`: what upstream calls a live user of the version ("Datastore version
 *    is in use by instance."); absent, the table's name is used;
 *  - `owned`: rows that belong to the version and go with it (its configuration
 *    parameters, as upstream);
 *  - `softDeleted`: the table marks rows deleted (`deleted = 1`) instead of removing them;
 *  - `nullable`: the column may be NULL, so deleted rows can let go of the version.
 * The order is the order the tables were created in (the order of the checks).
 */
export interface VersionReference {
  table: string
  column: 'datastore_version_id'
  resource?: string
  owned?: true
  softDeleted: boolean
  nullable: boolean
}

export const DATASTORE_VERSION_REFERENCES: readonly VersionReference[] = [
  { table: 'instances', column: 'datastore_version_id', resource: 'instance', softDeleted: true, nullable: true }, // m001
  { table: 'configurations', column: 'datastore_version_id', resource: 'configuration', softDeleted: true, nullable: false }, // m003
  { table: 'datastore_configuration_parameters', column: 'datastore_version_id', owned: true, softDeleted: true, nullable: false }, // m003
  { table: 'modules', column: 'datastore_version_id', softDeleted: true, nullable: true }, // m005
  { table: 'backups', column: 'datastore_version_id', resource: 'backup', softDeleted: true, nullable: true }, // m009
]
