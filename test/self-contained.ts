import t from 'tap'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { ROOT } from './helpers/lab.js'
import { contract, fieldsToObject, REQUEST_NAMES } from './helpers/contract.js'
import { missingFields } from './helpers/api.js'

/**
 * Issue 11: `npm test` runs from a clone. The reference specs sit beside the repository on
 * the machine it was written on, not in a clone: no test or benchmark may read them.
 */
const OUTSIDE = new RegExp(['\\.\\./', 'shared\\b|', 'shared/', 'spec/'].join(''))

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : [join(dir, e.name)]))
}

t.test('no test, helper or benchmark reads the reference specs outside the repository', async (t) => {
  const all = [...files(join(ROOT, 'test')), ...files(join(ROOT, 'bench'))].filter((f) => /\.(ts|tsx|mjs|js|json)$/.test(f))
  t.ok(all.length > 50, `${all.length} files scanned`)
  const offenders = all.filter((f) => OUTSIDE.test(readFileSync(f, 'utf8'))).map((f) => f.slice(ROOT.length + 1))
  t.same(offenders, [], 'none')
  t.ok(OUTSIDE.test("readFileSync('../../../" + 'shared/' + "spec/cli.md')"), 'the check sees such a read')
})

t.test('the contract table: field lists become objects, request bodies come fresh', async (t) => {
  t.same(fieldsToObject('a.b:s a.c[0].d:n a.c[1].e:0 f:t g:{} h:[]'), { a: { b: '', c: [{ d: 0 }, { e: null }] }, f: true, g: {}, h: [] })
  t.throws(() => fieldsToObject('a.b:x'), /bad field a\.b:x/)
  t.throws(() => contract('no-such-example.json'), /no contract entry/)
  t.same(missingFields({ backup: { id: 'x' } }, contract('backup-get-response.json')).slice(0, 2), ['.backup.created', '.backup.datastore'], 'a missing field is reported')
  const body = contract('quota-update.json') as { quotas: { instances: number } }
  body.quotas.instances = 99
  t.equal((contract('quota-update') as { quotas: { instances: number } }).quotas.instances, 10, 'callers may change their copy')
  t.ok(REQUEST_NAMES.length >= 40, `${REQUEST_NAMES.length} request bodies`)
})
