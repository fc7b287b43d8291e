import { badRequest, unprocessable } from '../errors.js'
import { exactInteger, pythonFloat } from '../json-number.js'

/** What validation needs of a parameter (a datastore_configuration_parameters row). */
export interface ParameterRule {
  name: string
  data_type: string
  min_size: string | null
  max_size: string | null
}

/** upstream's configuration_value column is String(128). */
export const MAX_VALUE_LENGTH = 128

const INTEGER_TEXT = /^-?\d+$/
const FLOAT_TEXT = /^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/

function isType(v: unknown, type: string): boolean {
  switch (type) {
    // JSON has one number type: 1 and 1.0 parse alike, so an integral number passes as
    // an integer (as upstream) and as a float (upstream refuses a float given as `1`).
    // Upstream's Python also takes true/false as integers (bool is an int there); a
    // boolean is not a number, so it is refused here.
    case 'integer':
      return typeof v === 'number' && Number.isInteger(v)
    case 'float':
      return typeof v === 'number' && Number.isFinite(v)
    case 'string':
      return typeof v === 'string'
    case 'boolean':
      return typeof v === 'boolean'
    default:
      throw badRequest('Invalid or unsupported type defined in the configuration-parameters configuration file.')
  }
}

/** Integers compare exactly (bounds reach 2^64-1); floats as floats. */
function compare(v: number, bound: string, type: string): number {
  if (type === 'integer') {
    const a = BigInt(v)
    const b = BigInt(bound)
    return a < b ? -1 : a > b ? 1 : 0
  }
  const b = Number(bound)
  return v < b ? -1 : v > b ? 1 : 0
}

function storedText(v: unknown, type: string): string {
  if (typeof v === 'boolean') return v ? '1' : '0'
  if (typeof v === 'number') return type === 'integer' ? BigInt(v).toString() : String(v)
  return String(v)
}

/**
 * Upstream's _validate_configuration (internals.md 1.11): every key must be a
 * parameter of the version (case-insensitive), of the parameter's type, within its
 * bounds; the first failure is a 422 with upstream's message. Returns what to store:
 * the parameter's own name (so a key given as MAX_CONNECTIONS is still found and
 * converted on read; upstream stores the key as typed and then skips its conversion)
 * and the text of the value.
 */
export function checkValues(values: Record<string, unknown>, rules: ParameterRule[], version: { datastore: string; name: string }): Array<[string, string]> {
  const entries = Object.entries(values)
  if (entries.length === 0) return []
  const byName = new Map(rules.map((r) => [r.name.toLowerCase(), r]))
  if (byName.size === 0) throw unprocessable(`Configuration groups are not supported for this datastore: ${version.datastore} ${version.name}`)
  const out = new Map<string, string>()
  for (const [k, v] of entries) {
    const rule = byName.get(k.toLowerCase())
    if (!rule) throw unprocessable(`The configuration parameter ${k} is not supported for this datastore: ${version.datastore} ${version.name}.`)
    if (!isType(v, rule.data_type)) throw unprocessable(`The value provided for the configuration parameter ${k} is not of type ${rule.data_type}.`)
    // Upstream checks bounds of integers only; a float below its minimum
    // (long_query_time: -1.5) is as wrong as an integer is.
    if (typeof v === 'number') {
      if (rule.min_size !== null && compare(v, rule.min_size, rule.data_type) < 0) {
        throw unprocessable(`The value for the configuration parameter ${k} is less than the minimum allowed: ${rule.min_size}`)
      }
      if (rule.max_size !== null && compare(v, rule.max_size, rule.data_type) > 0) {
        throw unprocessable(`The value for the configuration parameter ${k} is greater than the maximum allowed: ${rule.max_size}`)
      }
    }
    const text = storedText(v, rule.data_type)
    // Upstream's column would truncate (MySQL) or fail with a 500; say so instead.
    if (text.length > MAX_VALUE_LENGTH) throw unprocessable(`The value provided for the configuration parameter ${k} is longer than ${MAX_VALUE_LENGTH} characters.`)
    out.set(rule.name, text)
  }
  return [...out]
}

/**
 * A stored value converted by its parameter's current type (upstream's load_items).
 * A value the type cannot read (the parameter was changed or removed since) comes
 * back as the stored text, where upstream fails with a 500.
 */
export function readValue(text: string, rule: ParameterRule | undefined): unknown {
  switch (rule?.data_type) {
    case 'boolean':
      if (INTEGER_TEXT.test(text)) return BigInt(text) !== 0n
      if (/^(true|false)$/i.test(text)) return text.toLowerCase() === 'true'
      return text
    case 'integer':
      return INTEGER_TEXT.test(text) ? exactInteger(text) : text
    case 'float':
      return FLOAT_TEXT.test(text) ? pythonFloat(Number(text)) : text
    default:
      return text
  }
}

/**
 * oslo_utils' mask_dict_password, as upstream applies it to group values: a key
 * containing one of these (case-insensitive) shows "***" (so does PostgreSQL's
 * password_encryption). Newer oslo.utils also list 'connection', which would hide
 * max_connections; upstream 18 shows it (transcript 29), so it is not listed.
 * Redis's requirepass is added: oslo's list misses it, and it is the Redis password.
 */
const SECRET_KEYS = [
  'adminPass',
  'admin_pass',
  'password',
  'admin_password',
  'auth_token',
  'new_pass',
  'auth_password',
  'secret_uuid',
  'secret',
  'sys_pswd',
  'token',
  'configdrive',
  'CHAPPASSWORD',
  'encrypted_key',
  'requirepass',
].map((k) => k.toLowerCase())

/** Values for a view: secrets masked, order kept. */
export function maskValues(values: Array<[string, unknown]>): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [k, v] of values) {
    // defineProperty: an admin may name a parameter "__proto__", which assignment would swallow.
    Object.defineProperty(out, k, { value: SECRET_KEYS.some((s) => k.toLowerCase().includes(s)) ? '***' : v, enumerable: true, writable: true, configurable: true })
  }
  return out
}
