import type { Configuration } from '../../../sdk/index.js'
import { pyJsonDumps } from '../../output/json-format.js'

/** Show fields of a configuration: all keys but datastore_version_id, values as a JSON string. */
export function configurationFields(c: Configuration): Record<string, unknown> {
  const { datastore_version_id: _v, ...fields } = c as Record<string, unknown>
  if ('values' in fields) fields.values = pyJsonDumps(fields.values, null)
  return fields
}
