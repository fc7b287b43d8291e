import { isIPv6 } from 'node:net'
import pLimit, { type LimitFunction } from 'p-limit'
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible'

export interface LoginThrottleOptions {
  /** Failed password logins allowed from one source (an IPv4 address, an IPv6 /64) per window. */
  sourceFailures: number
  /** Failed password logins allowed for one user name (from every source together) per window. */
  userFailures: number
  windowSeconds: number
  /** Password hashes computed at once: each holds a libuv thread-pool thread (fs, dns share the pool). */
  hashConcurrency: number
  /** Password checks that may wait, for a hash slot or for their source or user: beyond, 429 at once. */
  queue: number
  /** How long a source that logged a user in is exempt from that user's throttle (ms). */
  trustMs: number
}

/**
 * 10 failures a minute per source and 30 per user: a person who mistypes is never slowed,
 * a guesser gets under 0.2 guesses/s per address and 0.5/s per user (the flood before this
 * allowed ~22/s and stalled every API call for seconds).
 */
export const DEFAULT_LOGIN_THROTTLE: LoginThrottleOptions = {
  sourceFailures: 10,
  userFailures: 30,
  windowSeconds: 60,
  hashConcurrency: 2,
  queue: 64,
  trustMs: 24 * 3600_000,
}

export type LoginVerdict<T> = { ok: true; value: T | undefined } | { ok: false; retryAfter: number; message: string }

/** The throttle key of a client address: IPv4 as is, IPv6 by its /64 (one host usually holds a whole /64). */
export function sourceKey(address: string | undefined): string {
  const a = (address ?? '').replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, '')
  if (!isIPv6(a)) return a
  const [head, tail = ''] = a.split('::')
  const left = head ? head.split(':') : []
  const right = tail ? tail.split(':') : []
  const groups = a.includes('::') ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right] : left
  return `${groups
    .slice(0, 4)
    .map((g) => Number.parseInt(g, 16).toString(16))
    .join(':')}::/64`
}

/**
 * Password logins off the event loop and throttled per source and per user (issue 11).
 *
 * Attempts of one source run one at a time, and so do attempts naming one user, so the
 * failure counts are read before each hash and cannot be overrun by a burst of parallel
 * requests; successful logins cost nothing and a legitimate burst is only serialised.
 * Failures are counted in rate-limiter-flexible's in-memory windows (its documented
 * brute-force recipe); a source over its count, or a user over theirs, is answered 429
 * with Retry-After without hashing. A source that logged the user in before is exempt
 * from the per-user count, so guessing a user's password from elsewhere does not lock
 * the user out. The hashes themselves run at most `hashConcurrency` at a time in libuv's
 * thread pool.
 */
export class LoginGuard {
  private readonly o: LoginThrottleOptions
  private readonly bySource: RateLimiterMemory
  private readonly byUser: RateLimiterMemory
  private readonly hashes: LimitFunction
  private readonly lanes = new Map<string, { limit: LimitFunction; users: number }>()
  private readonly trusted = new Map<string, number>()

  constructor(
    opts: Partial<LoginThrottleOptions> = {},
    private readonly log: (m: string) => void = () => {},
  ) {
    this.o = { ...DEFAULT_LOGIN_THROTTLE, ...opts }
    this.bySource = new RateLimiterMemory({ keyPrefix: 'src', points: this.o.sourceFailures, duration: this.o.windowSeconds })
    this.byUser = new RateLimiterMemory({ keyPrefix: 'user', points: this.o.userFailures, duration: this.o.windowSeconds })
    this.hashes = pLimit(this.o.hashConcurrency)
  }

  /**
   * Runs `check` (a password check: the user, or undefined when refused) for a login from
   * `address` naming `userKey`, unless the source or the user is over its failure count.
   */
  async attempt<T>(address: string | undefined, userKey: string, check: () => Promise<T | undefined>): Promise<LoginVerdict<T>> {
    const src = sourceKey(address)
    const pair = `${userKey}\n${src}`
    const trusted = (this.trusted.get(pair) ?? 0) > Date.now()
    return this.lane(`s\n${src}`, async () => {
      const s = await this.bySource.get(src)
      if (s && s.consumedPoints >= this.o.sourceFailures) return this.refuse(s, 'from this address')
      const run = async (): Promise<LoginVerdict<T>> => {
        if (!trusted) {
          const u = await this.byUser.get(userKey)
          if (u && u.consumedPoints >= this.o.userFailures) return this.refuse(u, 'for this user')
        }
        if (this.hashes.pendingCount >= this.o.queue) return { ok: false, retryAfter: 1, message: 'Too many logins are being checked; retry in 1 second.' }
        const value = await this.hashes(check)
        if (value === undefined) {
          await this.fail(this.bySource, src, `password logins from ${src}`)
          if (!trusted) await this.fail(this.byUser, userKey, 'password logins for one user')
        } else {
          if (this.trusted.size >= 10_000) this.trusted.clear()
          this.trusted.set(pair, Date.now() + this.o.trustMs)
        }
        return { ok: true, value }
      }
      return trusted ? run() : this.lane(`u\n${userKey}`, run)
    })
  }

  /** Runs `fn` after the earlier attempts of the same key; a full lane refuses at once. */
  private async lane<T>(key: string, fn: () => Promise<LoginVerdict<T>>): Promise<LoginVerdict<T>> {
    let lane = this.lanes.get(key)
    if (!lane) this.lanes.set(key, (lane = { limit: pLimit(1), users: 0 }))
    if (lane.users > this.o.queue) return { ok: false, retryAfter: 1, message: 'Too many logins are waiting to be checked; retry in 1 second.' }
    lane.users++
    try {
      return await lane.limit(fn)
    } finally {
      if (--lane.users === 0) this.lanes.delete(key)
    }
  }

  private async fail(limiter: RateLimiterMemory, key: string, what: string): Promise<void> {
    const res = await limiter.consume(key).catch((r: unknown) => r)
    if (res instanceof RateLimiterRes && res.remainingPoints === 0 && res.consumedPoints === limiter.points) {
      this.log(`${what} throttled for ${Math.ceil(res.msBeforeNext / 1000)} s after ${res.consumedPoints} failures`)
    }
  }

  private refuse(res: RateLimiterRes, whose: string): { ok: false; retryAfter: number; message: string } {
    const retryAfter = Math.max(1, Math.ceil(res.msBeforeNext / 1000))
    return { ok: false, retryAfter, message: `Too many failed logins ${whose}; retry in ${retryAfter} seconds.` }
  }
}
