import { randomUUID } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import type { Lab } from '../lab.js'
import { describeEngines, installedEngineFor, isRunnableManager, RUNNABLE_MANAGERS } from '../compute/engine-match.js'
import { forgetParked } from '../db/datastore-registry.js'
import { seedConfigurationParameters } from '../configurations/parameter-seed.js'
import { requireAdmin } from '../http/guard.js'
import { badRequest, notFound } from '../errors.js'
import { findDatastore } from './datastores.js'
import { authorizeAdminRule } from '../http/policy.js'
import { compileBodySchema, nonEmptyString, uuid } from '../http/validation.js'

interface MgmtVersionRow {
  id: string
  datastore_id: string
  name: string
  manager: string
  version: string
  image_id: string | null
  image_tags: string
  packages: string
  active: number
  bin_dir: string | null
  registry_ext: string | null
  repl_strategy: string | null
  datastore_name: string
  default_version_id: string | null
}

const SELECT_VERSIONS = `SELECT v.*, d.name AS datastore_name, d.default_version_id FROM datastore_versions v JOIN datastores d ON d.id = v.datastore_id`

/** Upstream's image_tags and package_list schemas (apischema.py). */
const imageTags = { type: 'array', maxItems: 5, uniqueItems: true, items: { type: 'string', minLength: 1, maxLength: 20 } } as const
const packageList = { type: 'array', uniqueItems: true, items: nonEmptyString } as const
const bool = { enum: [true, false] } as const

const checkCreate = compileBodySchema({
  type: 'object',
  required: ['version'],
  properties: {
    version: {
      type: 'object',
      required: ['name', 'datastore_name', 'datastore_manager', 'active'],
      additionalProperties: false,
      properties: {
        name: nonEmptyString,
        datastore_name: nonEmptyString,
        datastore_manager: nonEmptyString,
        packages: packageList,
        image: uuid,
        image_tags: imageTags,
        registry_ext: nonEmptyString,
        repl_strategy: nonEmptyString,
        active: bool,
        default: bool,
        version: nonEmptyString,
      },
    },
  },
})

/** PATCH bodies are not wrapped, and the version number cannot change (upstream). */
const checkEdit = compileBodySchema({
  type: 'object',
  additionalProperties: false,
  properties: {
    name: nonEmptyString,
    datastore_manager: nonEmptyString,
    packages: packageList,
    image: uuid,
    image_tags: imageTags,
    registry_ext: nonEmptyString,
    repl_strategy: nonEmptyString,
    active: bool,
    default: bool,
  },
})

interface VersionFields {
  name: string
  datastore_name: string
  datastore_manager: string
  active: boolean
  image?: string
  image_tags?: string[]
  packages?: string[]
  registry_ext?: string
  repl_strategy?: string
  default?: boolean
  version?: string
}

/** MgmtVersion (api.md 7.6): lists come back as [""] when empty, as upstream's split does. */
function mgmtVersionView(v: MgmtVersionRow) {
  return {
    id: v.id,
    name: v.name,
    version: v.version,
    datastore_id: v.datastore_id,
    datastore_name: v.datastore_name,
    datastore_manager: v.manager,
    image: v.image_id,
    image_tags: v.image_tags ? v.image_tags.split(',') : [''],
    packages: v.packages ? v.packages.split(',') : [''],
    active: v.active === 1,
    registry_ext: v.registry_ext,
    repl_strategy: v.repl_strategy,
    default: v.default_version_id === v.id,
  }
}

/** Tables whose live rows keep a version from being deleted (upstream checks these three). */
const USERS_OF_VERSIONS: Record<string, string> = { instances: 'instance', backups: 'backup', configurations: 'configuration' }

/** Every table with a datastore_version_id column (other modules add tables: found, not assumed). */
function referencingTables(lab: Lab): Array<{ table: string; hasDeleted: boolean; nullable: boolean }> {
  const tables = lab.db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name <> 'datastore_versions'").pluck().all() as string[]
  const found: Array<{ table: string; hasDeleted: boolean; nullable: boolean }> = []
  for (const table of tables) {
    const cols = lab.db.prepare(`PRAGMA table_info("${table.replace(/"/g, '""')}")`).all() as Array<{ name: string; notnull: number }>
    const col = cols.find((c) => c.name === 'datastore_version_id')
    if (col) found.push({ table, hasDeleted: cols.some((c) => c.name === 'deleted'), nullable: col.notnull === 0 })
  }
  return found
}

const quoted = (table: string) => `"${table.replace(/"/g, '""')}"`

function isForeignKeyError(e: unknown): boolean {
  return (e as { code?: string }).code === 'SQLITE_CONSTRAINT_FOREIGNKEY'
}

/** Routes 93-97 (api.md 7.6, admin_context: 401 for members) and 58, `DELETE /datastores/{ds}` (policy: 403). */
export async function datastoreAdminRoutes(app: FastifyInstance, { lab }: { lab: Lab }): Promise<void> {
  const load = (id: string): MgmtVersionRow => {
    const v = lab.db.prepare(`${SELECT_VERSIONS} WHERE v.id = ?`).get(id) as MgmtVersionRow | undefined
    if (!v) throw notFound(`Datastore version '${id}' cannot be found.`)
    return v
  }

  const requireRunnable = (manager: string) => {
    if (!isRunnableManager(manager)) throw badRequest(`Datastore manager ${manager} cannot be found. This lab runs ${RUNNABLE_MANAGERS.join(', ')}.`)
  }

  /** An active version needs an installed engine that can run it (else its instances could not start). */
  const engineForActive = (name: string, manager: string, version: string) => {
    const engine = installedEngineFor(lab.engines, manager, version)
    if (!engine) {
      throw badRequest(
        `Datastore version '${name}' cannot be active: no installed ${manager} engine has version ${version} ` +
          `(installed when the server started: ${describeEngines(lab.engines, manager)}). Install it and restart 'trove server', ` +
          'use the version number of an installed engine, or make the version inactive.',
      )
    }
    return engine
  }

  const nameTaken = (datastoreId: string, name: string, except?: string) =>
    lab.db.prepare('SELECT version FROM datastore_versions WHERE datastore_id = ? AND name = ? AND id IS NOT ?').get(datastoreId, name, except ?? null) as { version: string } | undefined

  /**
   * Upstream refuses the same name with the same version number; names resolve versions
   * in instance create, so this lab keeps them unique within a datastore altogether.
   */
  const refuseTaken = (datastoreId: string, datastoreName: string, name: string, version: string, except?: string) => {
    const other = nameTaken(datastoreId, name, except)
    if (!other) return
    if (other.version === version) throw badRequest(`A datastore version with the name '${name}' and version '${version}' already exists.`)
    throw badRequest(`A datastore version with the name '${name}' already exists in datastore '${datastoreName}' (version '${other.version}'); version names are unique within a datastore.`)
  }

  app.get('/mgmt/datastore-versions', async (req) => {
    requireAdmin(req)
    const rows = lab.db.prepare(`${SELECT_VERSIONS} ORDER BY d.name, v.name`).all() as MgmtVersionRow[]
    return { versions: rows.map(mgmtVersionView) }
  })

  app.get('/mgmt/datastore-versions/:id', async (req) => {
    requireAdmin(req)
    return { version: mgmtVersionView(load((req.params as { id: string }).id)) }
  })

  app.post('/mgmt/datastore-versions', async (req, reply) => {
    requireAdmin(req)
    checkCreate(req.body)
    const v = (req.body as { version: VersionFields }).version
    const version = v.version ?? v.name // upstream: the name doubles as the version number
    // The lab has no Glance: an image id or tags are recorded as given, but one is still required (upstream).
    if (!v.image && !v.image_tags?.length) throw badRequest('Image or image tags must be specified.')
    requireRunnable(v.datastore_manager)
    const engine = v.active ? engineForActive(v.name, v.datastore_manager, version) : installedEngineFor(lab.engines, v.datastore_manager, version)
    // Everything is checked before anything is written: upstream creates the datastore
    // first and may then refuse the version, leaving an empty datastore behind.
    const id = lab.db.transaction(() => {
      let ds = findDatastore(lab, v.datastore_name)
      if (ds) refuseTaken(ds.id, ds.name, v.name, version)
      else {
        ds = { id: randomUUID(), name: v.datastore_name, default_version_id: null }
        lab.db.prepare('INSERT INTO datastores (id, name) VALUES (?, ?)').run(ds.id, ds.name)
      }
      const versionId = randomUUID()
      lab.db
        .prepare(`INSERT INTO datastore_versions (id, datastore_id, name, manager, version, image_id, image_tags, packages, active, bin_dir, registry_ext, repl_strategy)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
        .run(
          versionId,
          ds.id,
          v.name,
          v.datastore_manager,
          version,
          v.image ?? null,
          (v.image_tags ?? []).join(','),
          (v.packages ?? []).join(','),
          v.active ? 1 : 0,
          engine?.binDir ?? null,
          v.registry_ext ?? null,
          v.repl_strategy ?? null,
        )
      if (v.default) lab.db.prepare('UPDATE datastores SET default_version_id = ? WHERE id = ?').run(versionId, ds.id)
      lab.log(`datastore version ${v.datastore_name} ${v.name} (${v.datastore_manager} ${version}) registered by an admin${v.active ? '' : ', inactive'}`)
      return versionId
    })()
    // The configuration parameters its manager accepts (the start does this for registered engines).
    seedConfigurationParameters(lab.db, [id])
    return reply.code(202).send()
  })

  app.patch('/mgmt/datastore-versions/:id', async (req, reply) => {
    requireAdmin(req)
    const { id } = req.params as { id: string }
    checkEdit(req.body)
    const body = req.body as Partial<Omit<VersionFields, 'datastore_name' | 'version'>>
    const v = load(id)
    const name = body.name ?? v.name
    const manager = body.datastore_manager ?? v.manager
    const active = body.active ?? v.active === 1
    const image = body.image ?? v.image_id
    const tags = body.image_tags ?? (v.image_tags ? v.image_tags.split(',') : [])
    if (name !== v.name) refuseTaken(v.datastore_id, v.datastore_name, name, v.version, v.id)
    if ((body.image !== undefined || body.image_tags !== undefined) && !image && tags.length === 0) throw badRequest('Image or image tags must be specified.')
    if (manager !== v.manager) {
      requireRunnable(manager)
      // Live instances of this version run the old manager's engine: their records would lie.
      if (lab.db.prepare('SELECT 1 FROM instances WHERE datastore_version_id = ? AND deleted = 0').get(id)) throw badRequest('Datastore version is in use by instance.')
    }
    const engine = active ? engineForActive(name, manager, v.version) : installedEngineFor(lab.engines, manager, v.version)
    lab.db.transaction(() => {
      lab.db
        .prepare(`UPDATE datastore_versions SET name = ?, manager = ?, image_id = ?, image_tags = ?, packages = ?, active = ?, bin_dir = ?,
        registry_ext = ?, repl_strategy = ? WHERE id = ?`)
        .run(
          name,
          manager,
          image,
          tags.join(','),
          body.packages ? body.packages.join(',') : v.packages,
          active ? 1 : 0,
          engine?.binDir ?? v.bin_dir,
          body.registry_ext ?? v.registry_ext,
          body.repl_strategy ?? v.repl_strategy,
          id,
        )
      if (body.default === true) lab.db.prepare('UPDATE datastores SET default_version_id = ? WHERE id = ?').run(id, v.datastore_id)
      else if (body.default === false && v.default_version_id === id) lab.db.prepare('UPDATE datastores SET default_version_id = NULL WHERE id = ?').run(v.datastore_id)
      if (body.active !== undefined) forgetParked(lab.db, id)
    })()
    if (manager !== v.manager) seedConfigurationParameters(lab.db, [id]) // the new manager's parameters replace the old one's
    return reply.code(202).send()
  })

  app.delete('/mgmt/datastore-versions/:id', async (req, reply) => {
    requireAdmin(req)
    const { id } = req.params as { id: string }
    const v = load(id)
    const refs = referencingTables(lab)
    for (const r of refs) {
      const resource = USERS_OF_VERSIONS[r.table]
      if (!resource && /parameter/.test(r.table)) continue // the version's own parameters go with it (upstream)
      const live = lab.db.prepare(`SELECT 1 FROM ${quoted(r.table)} WHERE datastore_version_id = ?${r.hasDeleted ? ' AND deleted = 0' : ''} LIMIT 1`).get(id)
      if (live) throw badRequest(`Datastore version is in use by ${resource ?? r.table}.`)
      if (!r.nullable && lab.db.prepare(`SELECT 1 FROM ${quoted(r.table)} WHERE datastore_version_id = ? LIMIT 1`).get(id)) {
        throw badRequest(`Datastore version is still referenced by deleted ${resource ?? r.table} records and cannot be deleted.`)
      }
    }
    try {
      lab.db.transaction(() => {
        for (const r of refs) {
          // Deleted records (upstream keeps a dangling id) lose the reference: SQLite enforces foreign keys.
          if (r.hasDeleted && r.nullable) lab.db.prepare(`UPDATE ${quoted(r.table)} SET datastore_version_id = NULL WHERE datastore_version_id = ? AND deleted = 1`).run(id)
          else if (/parameter/.test(r.table) && !USERS_OF_VERSIONS[r.table]) lab.db.prepare(`DELETE FROM ${quoted(r.table)} WHERE datastore_version_id = ?`).run(id)
        }
        if (v.default_version_id === id) lab.db.prepare('UPDATE datastores SET default_version_id = NULL WHERE id = ?').run(v.datastore_id)
        lab.db.prepare('DELETE FROM datastore_versions WHERE id = ?').run(id)
      })()
    } catch (e) {
      if (isForeignKeyError(e)) throw badRequest(`Datastore version ${id} is still referenced and cannot be deleted.`)
      throw e
    }
    lab.log(`datastore version ${v.datastore_name} ${v.name} deleted by an admin`)
    return reply.code(202).send()
  })

  app.delete('/datastores/:ds', async (req, reply) => {
    authorizeAdminRule(req, 'datastore:delete')
    const { ds: ref } = req.params as { ds: string }
    const ds = findDatastore(lab, ref)
    if (!ds) throw notFound(`Datastore '${ref}' cannot be found.`)
    if (lab.db.prepare('SELECT 1 FROM datastore_versions WHERE datastore_id = ? LIMIT 1').get(ds.id)) throw badRequest(`Datastore versions exist for datastore ${ref}.`)
    try {
      lab.db.prepare('DELETE FROM datastores WHERE id = ?').run(ds.id)
    } catch (e) {
      if (isForeignKeyError(e)) throw badRequest(`Datastore ${ref} is still referenced and cannot be deleted.`)
      throw e
    }
    lab.log(`datastore ${ds.name} deleted by an admin`)
    return reply.code(202).send()
  })
}
