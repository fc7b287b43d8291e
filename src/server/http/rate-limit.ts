import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'

export type RateLimitUnit = 'SECOND' | 'MINUTE' | 'HOUR' | 'DAY'

/** One rule of upstream's ratelimit filter: at most `value` `verb` requests to paths matching `regex` per `unit`. */
export interface RateLimitRule {
  verb: string
  /** Human-readable URI, shown in /limits and in the fault. */
  uri: string
  /** Matched from the start of the path below /v1.0/{project} (Python re.match). */
  regex: string
  value: number
  unit: RateLimitUnit
}

/** One rate-limit entry of `GET /limits`, keys in upstream's order (transcript 10). */
export interface RateLimitView {
  nextAvailable: string
  remaining: number
  unit: RateLimitUnit
  value: number
  verb: string
  uri: string
  regex: string
}

const UNIT_MS: Record<RateLimitUnit, number> = { SECOND: 1_000, MINUTE: 60_000, HOUR: 3_600_000, DAY: 86_400_000 }

/** Upstream's DEFAULT_LIMITS: http_{post,put,delete,get}_rate and http_mgmt_post_rate, 200 per minute each. */
export const DEFAULT_RATE_LIMITS: readonly RateLimitRule[] = Object.freeze([
  { verb: 'POST', uri: '*', regex: '.*', value: 200, unit: 'MINUTE' },
  { verb: 'PUT', uri: '*', regex: '.*', value: 200, unit: 'MINUTE' },
  { verb: 'DELETE', uri: '*', regex: '.*', value: 200, unit: 'MINUTE' },
  { verb: 'GET', uri: '*', regex: '.*', value: 200, unit: 'MINUTE' },
  { verb: 'POST', uri: '*/mgmt', regex: '^/mgmt', value: 200, unit: 'MINUTE' },
])

/**
 * Upstream's limits string (Limiter.parse_limits): `(VERB, URI, REGEX, VALUE, UNIT);...`,
 * e.g. `(GET, *, .*, 100000, MINUTE);(POST, *, .*, 100000, MINUTE)`. For a
 * command-line option or a config file that raises the limits.
 */
export function parseRateLimits(text: string): RateLimitRule[] {
  const trimmed = text.trim()
  if (!trimmed) return []
  return trimmed.split(';').map((group) => {
    const g = group.trim()
    if (!g.startsWith('(') || !g.endsWith(')')) throw new Error('Limit rules must be surrounded by parentheses')
    const args = g
      .slice(1, -1)
      .split(',')
      .map((a) => a.trim())
    if (args.length !== 5) throw new Error('Limit rules must contain the following arguments: verb, uri, regex, value, unit')
    const [verb, uri, regex, value, unit] = args
    if (!/^\d+$/.test(value)) throw new Error(`invalid limit value '${value}'`)
    const u = unit.toUpperCase()
    if (!(u in UNIT_MS)) throw new Error('Invalid units specified')
    return { verb: verb.toUpperCase(), uri, regex, value: Number(value), unit: u as RateLimitUnit }
  })
}

/**
 * Makes a Python `re.match` pattern for the path below the project test the request
 * URL in place: sticky (anchored where lastIndex points, as re.match anchors at the
 * start), and each `^` (outside a class) turned into "right after /v1.0/{project}".
 * So the hot path slices no string.
 */
function compilePattern(regex: string): RegExp {
  let out = ''
  let inClass = false
  for (let i = 0; i < regex.length; i++) {
    const c = regex[i]
    if (c === '\\') {
      out += c + (regex[i + 1] ?? '')
      i++
      continue
    }
    if (inClass) {
      if (c === ']') inClass = false
      out += c
      continue
    }
    if (c === '[') {
      inClass = true
      out += c
      if (regex[i + 1] === '^') {
        out += '^'
        i++
      }
      continue
    }
    out += c === '^' ? '(?<=^/v1\\.0/[^/?]*)' : c
  }
  return new RegExp(out, 'y')
}

interface CompiledRule extends RateLimitRule {
  index: number
  /** null: the rule matches every path (`.*`), no regex test needed. */
  re: RegExp | null
  unitMs: number
  /** Bucket capacity, in ms x value (see check()). */
  capacity: number
  details: string
}

/**
 * Upstream's in-memory leaky bucket (trove/common/limits.py), one bucket per rule and
 * project. A request adds 1/value of the unit to the water level, the level leaks at
 * real time, and a request that would overflow is refused with the time until it
 * would fit. Levels are kept scaled by `value` (a request adds exactly unitMs), so a
 * burst of exactly `value` requests fits without floating-point rounding.
 *
 * This sits on every API request: no SQLite, and per request only a Map lookup and
 * arithmetic on one preallocated Float64Array per project.
 */
export class RateLimiter {
  private readonly rules: CompiledRule[]
  private readonly byVerb = new Map<string, CompiledRule[]>()
  /** Per project: [level, lastMs] for each rule. */
  private readonly buckets = new Map<string, Float64Array>()
  /** The rule that refused the last refused check() (its message goes in the fault). */
  private refusedBy: CompiledRule | undefined

  constructor(
    rules: readonly RateLimitRule[],
    private readonly now: () => number = () => performance.now(),
  ) {
    this.rules = rules.map((r, index) => {
      const unitMs = UNIT_MS[r.unit]
      if (unitMs === undefined) throw new Error(`rate limit unit must be SECOND, MINUTE, HOUR or DAY, not ${String(r.unit)}`)
      if (!Number.isInteger(r.value) || r.value <= 0) throw new Error('Limit value must be > 0')
      const re = r.regex === '.*' || r.regex === '^.*' ? null : compilePattern(r.regex)
      const details = `Only ${r.value} ${r.verb} request(s) can be made to ${r.uri} every ${r.unit.toLowerCase()}.`
      return { ...r, index, re, unitMs, capacity: unitMs * r.value, details }
    })
    for (const r of this.rules) {
      const list = this.byVerb.get(r.verb) ?? []
      list.push(r)
      this.byVerb.set(r.verb, list)
    }
  }

  /**
   * Records a request of `key` (the project) and returns 0 if it may proceed, else
   * the delay in ms until it would be accepted. Every matching rule counts the
   * request unless that rule refuses it; the smallest delay is returned (upstream).
   */
  check(key: string, verb: string, url: string): number {
    const rules = this.byVerb.get(verb)
    if (rules === undefined) return 0
    let bucket = this.buckets.get(key)
    if (bucket === undefined) {
      bucket = new Float64Array(this.rules.length * 2).fill(Number.NaN)
      this.buckets.set(key, bucket)
    }
    const now = this.now()
    let start = -1
    let delay = 0
    for (let i = 0; i < rules.length; i++) {
      const r = rules[i]
      if (r.re !== null) {
        if (start < 0) start = pathStart(url)
        r.re.lastIndex = start
        if (!r.re.test(url)) continue
      }
      const at = r.index * 2
      const last = bucket[at + 1]
      let level = Number.isNaN(last) ? 0 : bucket[at] - (now - last) * r.value
      if (level < 0) level = 0
      level += r.unitMs
      bucket[at + 1] = now
      const over = level - r.capacity
      if (over > 0) {
        bucket[at] = level - r.unitMs
        const d = over / r.value
        if (delay === 0 || d < delay) {
          delay = d
          this.refusedBy = r
        }
      } else {
        bucket[at] = level
      }
    }
    return delay
  }

  /** The `details` of the rule that refused the last refused request. */
  get refusedDetails(): string {
    return this.refusedBy?.details ?? ''
  }

  /** Every rule as `GET /limits` shows it for `key`, counted at this moment. */
  view(key: string): RateLimitView[] {
    const bucket = this.buckets.get(key)
    const now = this.now()
    const wall = Date.now()
    return this.rules.map((r) => {
      let level = 0
      if (bucket && !Number.isNaN(bucket[r.index * 2 + 1])) {
        level = Math.max(0, bucket[r.index * 2] - (now - bucket[r.index * 2 + 1]) * r.value)
      }
      const over = level + r.unitMs - r.capacity
      const next = over > 0 ? wall + over / r.value : wall
      return {
        // Upstream truncates the time to whole seconds and prints it with a Z.
        nextAvailable: `${new Date(Math.floor(next / 1000) * 1000).toISOString().slice(0, 19)}Z`,
        remaining: Math.floor((r.capacity - level) / r.unitMs),
        unit: r.unit,
        value: r.value,
        verb: r.verb,
        uri: r.uri,
        regex: r.regex,
      }
    })
  }
}

/** Index where the path below /v1.0/{project} starts in a request URL ("/v1.0/p/x?y" -> 7). */
function pathStart(url: string): number {
  let i = 6
  while (i < url.length) {
    const c = url.charCodeAt(i)
    if (c === 47 /* / */ || c === 63 /* ? */) return i
    i++
  }
  return i
}

/**
 * The ratelimit filter as a fastify hook, after the tenant guard (upstream's pipeline
 * runs it after authentication, keyed by the token's project). Over the limit the
 * request is answered 413 with upstream's body and a Retry-After header.
 *
 * Upstream matches the rule regex against the full request URL (scheme and host
 * included), so its `^/mgmt` rule never fires; here it is matched against the path
 * below /v1.0/{project}, as the rule intends.
 */
export function rateLimitHook(limiter: RateLimiter) {
  return function rateLimit(req: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void {
    const key = req.auth?.project?.id
    if (key === undefined) {
      done()
      return
    }
    const delay = limiter.check(key, req.method, req.url)
    if (delay === 0) {
      done()
      return
    }
    // OverLimitFault: Retry-After = ceil(seconds until the request would be accepted).
    const retryAfter = String(Math.ceil(delay / 1000))
    reply
      .code(413)
      .header('Retry-After', retryAfter)
      .send({
        overLimit: { code: 413, message: 'This request was rate-limited.', details: limiter.refusedDetails, retryAfter },
      })
  }
}
