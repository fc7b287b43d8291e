/**
 * What an engine's configuration file cannot hold as a value, and the parameters the
 * guest agent keeps for itself: the server refuses these before a group is stored or
 * sent (422), the agent again before it writes a file (a hostile or stale server). One
 * rule for both, so the server never accepts a value the guest will refuse.
 * Hand-written: no library knows these engines' configuration-file syntax.
 */

/** Control characters (C0, DEL, C1): every engine's configuration file is line-based. */
export const CONTROL = /\p{Cc}/u

/** Why a value cannot be written into `manager`'s file. */
export type ValueProblem = 'control' | 'backslash' | 'quote'

/** The problem this text has as a value of `manager`'s file, or undefined when it has none. */
export function valueProblem(manager: string, text: string): ValueProblem | undefined {
  if (CONTROL.test(text)) return 'control'
  // In postgresql.conf a backslash escapes the next character (`\'` a quote, `\b` a
  // backspace): the value would not reach PostgreSQL as given, or not parse at all.
  if (manager === 'postgresql' && text.includes('\\')) return 'backslash'
  // redis.conf splits a line into words with its own quoting: a quote or backslash in a
  // value changes what Redis reads, an unbalanced one stops it at start.
  if (manager === 'redis' && /["'\\]/.test(text)) return 'quote'
  return undefined
}

/** Parameters that would lock the guest agent out of its engine, by manager (lower case). */
export const LOCKOUT: Readonly<Record<string, readonly string[]>> = {
  // The agent talks to Redis without a password (its ACL user is the default one).
  redis: ['requirepass'],
}

/** True when setting `key` would lock the agent out of `manager`'s engine. */
export function locksAgentOut(manager: string, key: string): boolean {
  return Object.hasOwn(LOCKOUT, manager) && LOCKOUT[manager]!.includes(key.toLowerCase())
}
