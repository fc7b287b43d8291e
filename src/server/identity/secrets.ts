import { createHash, randomBytes, scryptSync, timingSafeEqual } from 'node:crypto'

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

export function verifyPassword(password: string, stored: string): boolean {
  const [kind, n, r, p, salt, hash] = stored.split('$')
  if (kind !== 'scrypt' || !salt || !hash) return false
  const expected = Buffer.from(hash, 'base64')
  const got = scryptSync(password, Buffer.from(salt, 'base64'), expected.length, { N: Number(n), r: Number(r), p: Number(p) })
  return timingSafeEqual(expected, got)
}
