import { createHash, randomBytes, scrypt, scryptSync, timingSafeEqual, type ScryptOptions } from 'node:crypto'

/** A URL-safe random secret (passwords, tokens, agent credentials). */
export function randomSecret(bytes = 24): string {
  return randomBytes(bytes).toString('base64url')
}

/** Keystone-style ids: 32 lower-case hex digits. */
export function hexId(): string {
  return randomBytes(16).toString('hex')
}

export function sha256(s: string): string {
  return createHash('sha256').update(s).digest('hex')
}

// scrypt with N=2^14 costs ~30 ms: slow enough to make guessing stored user
// passwords expensive, fast enough for a CLI that authenticates on every run.
const SCRYPT = { N: 16384, r: 8, p: 1 }

/** `scrypt$N$r$p$salt$hash` for a user password. */
export function hashPassword(password: string): string {
  const salt = randomBytes(16)
  const hash = scryptSync(password, salt, 32, SCRYPT)
  return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString('base64')}$${hash.toString('base64')}`
}

const scryptAsync = (password: string, salt: Buffer, length: number, o: ScryptOptions) =>
  new Promise<Buffer>((resolve, reject) => scrypt(password, salt, length, o, (err, key) => (err ? reject(err) : resolve(key))))

/**
 * Checks a password against its stored hash in libuv's thread pool (node:crypto's async
 * scrypt), so the event loop keeps serving while it runs. False for a malformed hash.
 */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [kind, n, r, p, salt, hash] = stored.split('$')
  if (kind !== 'scrypt' || !salt || !hash) return false
  const expected = Buffer.from(hash, 'base64')
  if (expected.length === 0) return false
  try {
    const got = await scryptAsync(password, Buffer.from(salt, 'base64'), expected.length, { N: Number(n), r: Number(r), p: Number(p), maxmem: 64 * 1024 * 1024 })
    return timingSafeEqual(expected, got)
  } catch {
    return false // parameters scrypt refuses (a damaged row): no password matches
  }
}

/** A hash no password matches in practice: checked for unknown users so they cost (and take) as long as known ones. */
export const DUMMY_PASSWORD_HASH = `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${Buffer.alloc(16).toString('base64')}$${Buffer.alloc(32).toString('base64')}`
