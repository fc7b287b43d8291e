import t from 'tap'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { apiLab } from '../../helpers/api.js'
import { CLAIM_DIR } from '../../../src/server/compute/addresses.js'
import { instanceDirs } from '../../helpers/guest.js'

t.test('instance create refuses bad input with upstream faults and leaves nothing behind', async (t) => {
  const lab = await apiLab(t)
  const p = `/v1.0/${lab.demo.project}`
  const ok = { name: 'db', flavorRef: '1', volume: { size: 1 }, datastore: { type: 'postgresql' } }
  const cases: Array<[string, unknown, number, string, string]> = [
    ['no name', { instance: { flavorRef: '2' } }, 400, 'badRequest', "Validation error: instance 'name' is a required property"],
    ['name too long', { instance: { ...ok, name: 'n'.repeat(256) } }, 400, 'badRequest', `Validation error: instance['name'] '${'n'.repeat(256)}' is too long`],
    ['name without a letter or digit', { instance: { ...ok, name: '!!!' } }, 400, 'badRequest', "Validation error: instance['name'] '!!!' does not match '^.*[0-9a-zA-Z]+.*$'"],
    ['size 0', { instance: { ...ok, volume: { size: 0 } } }, 400, 'badRequest', "Validation error: instance['volume']['size'] 0 is not valid under any of the given schemas"],
    ['size -1', { instance: { ...ok, volume: { size: -1 } } }, 400, 'badRequest', "Validation error: instance['volume']['size'] -1 is not valid under any of the given schemas"],
    ["size '0'", { instance: { ...ok, volume: { size: '0' } } }, 400, 'badRequest', "Volume 'size' needs to be a positive integer value, 0 cannot be accepted."],
    ['size over the maximum', { instance: { ...ok, volume: { size: 500 } } }, 413, 'overLimit', "Volume 'size' cannot exceed maximum of 10 GB, 500 cannot be accepted."],
    ['no volume', { instance: { name: 'no-volume', flavorRef: '2', datastore: { type: 'postgresql' } } }, 400, 'badRequest', 'Volume size was not specified.'],
    ['unknown flavor', { instance: { ...ok, flavorRef: '999' } }, 400, 'badRequest', 'Resource 999 cannot be found.'],
    ['unknown datastore', { instance: { ...ok, datastore: { type: 'nosql' } } }, 404, 'itemNotFound', "Datastore 'nosql' cannot be found."],
    ['unknown version', { instance: { ...ok, datastore: { type: 'postgresql', version: '9.9' } } }, 400, 'badRequest', "Datastore version '9.9' cannot be found."],
    ['no datastore', { instance: { name: 'x', flavorRef: '1', volume: { size: 1 } } }, 400, 'badRequest', "Please specify datastore. Default datastore 'None' cannot be found."],
    [
      'user db not created',
      { instance: { ...ok, users: [{ name: 'u', password: 'p', databases: [{ name: 'nope' }] }] } },
      400,
      'badRequest',
      "Database 'nope' of user 'u' is not in the databases to create.",
    ],
    [
      'extra key in access',
      { instance: { ...ok, access: { is_public: true, x: 1 } } },
      400,
      'badRequest',
      "Validation error: instance['access'] Additional properties are not allowed ('x' was unexpected)",
    ],
    ['bad cidr', { instance: { ...ok, access: { allowed_cidrs: ['300.1.1.1/8'] } } }, 400, 'badRequest', "Validation error: instance['access']['allowed_cidrs'] '300.1.1.1/8' is not a 'cidr'"],
    ['replica_count without replica_of', { instance: { ...ok, replica_count: 2 } }, 400, 'badRequest', 'Replica count only valid when creating replicas. Cannot create 2 instances.'],
    [
      'unknown configuration group',
      { instance: { ...ok, configuration: '00000000-0000-4000-8000-000000000000' } },
      404,
      'itemNotFound',
      'Configuration group id: 00000000-0000-4000-8000-000000000000 could not be found.',
    ],
    ['not an object', { instance: 'x' }, 400, 'badRequest', "Validation error: instance 'x' is not of type 'object'"],
    ['no body key', {}, 400, 'badRequest', "Validation error: 'instance' is a required property"],
  ]
  for (const [what, body, status, fault, message] of cases) {
    const r = await lab.req('POST', `${p}/instances`, { body })
    t.equal(r.status, status, `${what}: status`)
    t.same(r.body, { [fault]: { code: status, message } }, `${what}: fault body`)
  }
  // A group of another datastore version (upstream's message, 400).
  const g = await lab.req('POST', `${p}/configurations`, { body: { configuration: { name: 'maria', values: { max_connections: 50 }, datastore: { type: 'mariadb' } } } })
  t.equal(g.status, 200, 'a mariadb group')
  const mismatch = await lab.req('POST', `${p}/instances`, { body: { instance: { ...ok, configuration: g.body.configuration.id } } })
  t.equal(mismatch.status, 400, 'a mariadb group on a postgresql instance: 400')
  t.match(mismatch.body, { badRequest: { message: /^Datastore Version on Configuration .* does not match the Datastore Version on the instance / } })
  t.same((await lab.req('GET', `${p}/instances`)).body, { instances: [] }, 'no instance row was written')
  t.same(instanceDirs(lab.dataDir), [], 'no instance directory was left')
  let claims: string[] = []
  try {
    claims = readdirSync(CLAIM_DIR).filter((a) => readFileSync(join(CLAIM_DIR, a), 'utf8').startsWith(lab.dataDir))
  } catch {
    /* none */
  }
  t.same(claims, [], 'no address was claimed')
})
