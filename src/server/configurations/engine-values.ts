import { unprocessable } from '../errors.js'
import { locksAgentOut, valueProblem, type ValueProblem } from '../../common/engines/value-rules.js'

/**
 * What the guest or the engine itself would refuse, checked before a group's values are
 * stored or sent (create, PUT, PATCH, attach). The upstream rules know only types and
 * bounds; these values passed them and then broke an instance at its next restart:
 * a PostgreSQL value ending in a backslash (its configuration file reads `\'` as an
 * escaped quote), a Redis value with a quote (its file has its own quoting), a Redis
 * `requirepass` (the agent talks to Redis without a password: it would be locked out).
 * Hand-written: no library knows these engines' configuration-file syntax.
 */

/** Why a parameter that would lock the guest agent out of its engine is refused (by manager). */
const LOCKOUT_REASON: Record<string, string> = {
  redis: 'the guest agent connects to Redis without a password and would be locked out; use root enable or ACL users instead',
}

/** Engine minimums stricter than the upstream rules' (Redis refuses to start below them). */
const MINIMUM: Record<string, Record<string, number>> = {
  redis: { databases: 1, maxclients: 1 },
}

/** Values an engine takes from a fixed list (case-insensitive); anything else stops it at start. */
const CHOICES: Record<string, Record<string, string[]>> = {
  redis: {
    loglevel: ['debug', 'verbose', 'notice', 'warning', 'nothing'],
    'maxmemory-policy': ['volatile-lru', 'volatile-lfu', 'volatile-random', 'volatile-ttl', 'allkeys-lru', 'allkeys-lfu', 'allkeys-random', 'noeviction'],
    appendfsync: ['always', 'everysec', 'no'],
  },
}

/** How the 422 words each problem (common/engines/value-rules.ts finds them). */
const PROBLEM: Record<ValueProblem, string> = {
  control: 'contains a control character',
  backslash: 'contains a backslash, which PostgreSQL would read as an escape',
  quote: 'contains a quote or a backslash, which Redis would read as quoting',
}

/**
 * Checks a group's values (name as stored, text, the parameter's type) for `manager`;
 * the first problem is a 422 naming the parameter, as the upstream validation's are.
 */
export function checkEngineValues(manager: string, values: Array<[string, string]>, types: Map<string, string>): void {
  // Own properties only: an admin may register a parameter named "__proto__".
  const own = <T>(table: Record<string, Record<string, T>>, key: string): T | undefined => {
    const forManager = Object.hasOwn(table, manager) ? table[manager]! : undefined
    return forManager && Object.hasOwn(forManager, key) ? forManager[key] : undefined
  }
  for (const [name, text] of values) {
    const key = name.toLowerCase()
    if (locksAgentOut(manager, key)) throw unprocessable(`The configuration parameter ${name} cannot be set for this datastore: ${LOCKOUT_REASON[manager]}.`)
    const problem = valueProblem(manager, text)
    if (problem) throw unprocessable(`The value provided for the configuration parameter ${name} is not valid: it ${PROBLEM[problem]}.`)
    const min = own(MINIMUM, key)
    if (min !== undefined && types.get(name) === 'integer' && /^-?\d+$/.test(text) && BigInt(text) < BigInt(min))
      throw unprocessable(`The value for the configuration parameter ${name} is less than the minimum allowed: ${min}`)
    const choices = own(CHOICES, key)
    if (choices && !choices.includes(text.toLowerCase())) throw unprocessable(`The value provided for the configuration parameter ${name} is not valid: it must be one of ${choices.join(', ')}.`)
  }
}
