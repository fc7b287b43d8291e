import { readFileSync } from 'node:fs'

/** The four value types upstream's validation knows (internals.md 1.11). */
export const PARAMETER_TYPES = ['integer', 'string', 'boolean', 'float'] as const
export type ParameterType = (typeof PARAMETER_TYPES)[number]

/** One entry of an upstream validation-rules.json; bounds are decimal strings (see loadRules). */
export interface ValidationRule {
  name: string
  restart_required: boolean
  type: ParameterType
  min: string | null
  max: string | null
}

// Read at first use from beside this module (scripts/build.mjs copies src/**/*.json into dist/).
const MANAGERS = new Set(['mariadb', 'mysql', 'postgresql', 'redis'])

const cache = new Map<string, ValidationRule[]>()

/**
 * Parses a rules file keeping its bounds exact: MySQL's rules use 2^64-1, which a
 * JavaScript number would round to 18446744073709551616. Long integers after
 * "min"/"max" are quoted before parsing, so every bound comes out as a string.
 */
export function parseRules(text: string): ValidationRule[] {
  const quoted = text.replace(/("(?:min|max)"\s*:\s*)(-?\d{16,})(?=\s*[,}])/g, '$1"$2"')
  const doc = JSON.parse(quoted) as { 'configuration-parameters': Array<{ name: string; restart_required: boolean; type: ParameterType; min?: number | string; max?: number | string }> }
  const bound = (v: number | string | undefined) => (v === undefined || v === null ? null : String(v))
  return doc['configuration-parameters'].map((r) => ({ name: r.name, restart_required: r.restart_required === true, type: r.type, min: bound(r.min), max: bound(r.max) }))
}

/** The upstream rules of a datastore manager (mariadb, mysql, postgresql, redis); [] for any other. */
export function rulesFor(manager: string): ValidationRule[] {
  if (!MANAGERS.has(manager)) return []
  let rules = cache.get(manager)
  if (!rules) {
    rules = parseRules(readFileSync(new URL(`./rules/${manager}.json`, import.meta.url), 'utf8'))
    cache.set(manager, rules)
  }
  return rules
}
