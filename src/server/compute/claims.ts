import { randomBytes } from 'node:crypto'
import { existsSync, linkSync, mkdirSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'

/**
 * Machine-wide claims on a name (a loopback address, a uid): a file created exclusively
 * (linked into place: EEXIST like O_EXCL) in a directory shared by every trove server on
 * this machine, naming the instance directory that owns it. A claim whose owner
 * directory is gone is stale and may be taken over.
 *
 * Taking over (and sweeping) is "read, still stale? unlink, create": two processes doing
 * it at once could each unlink the other's fresh claim and both win. So it happens only
 * under a per-name lock file (`.NAME.lock`, O_EXCL, holding the taker's pid), removed by
 * its taker. A busy lock means "someone else is deciding": the name is skipped, never
 * waited for. A lock left by a process that died inside that window (a few syscalls),
 * and a crashed writer's temporary file, are removed by `sweepClaims` once the pid is
 * gone. Hand-written: lockfile packages lock one path for one process and know nothing
 * of owner directories or stale takeover.
 */

export interface ClaimOwner {
  name: string
  owner: string
}

function readOwner(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8')
  } catch {
    return undefined
  }
}

/**
 * Creates FILE holding `content`, or false if it exists. The content is written to a
 * private temporary file first and linked into place (link fails with EEXIST like
 * O_EXCL), so a reader never sees a claim that exists but is still empty.
 */
function createClaim(file: string, content: string): boolean {
  const tmp = `${dirname(file)}/.tmp.${process.pid}.${randomBytes(6).toString('hex')}`
  writeFileSync(tmp, content, { flag: 'wx', mode: 0o644 })
  try {
    linkSync(tmp, file)
    return true
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false
    throw e
  } finally {
    rmSync(tmp, { force: true })
  }
}

const lockFile = (dir: string, name: string) => join(dir, `.${name}.lock`)

/** Runs `fn` holding NAME's lock; undefined when another process holds it. */
function underLock<T>(dir: string, name: string, fn: () => T): T | undefined {
  const lock = lockFile(dir, name)
  if (!createClaim(lock, String(process.pid))) return undefined
  try {
    return fn()
  } finally {
    unlinkSync(lock)
  }
}

/** Claims NAME in DIR for `ownerDir`; false if a live owner (or a taker at this moment) holds it. */
export function claimName(dir: string, name: string, ownerDir: string): boolean {
  mkdirSync(dir, { recursive: true, mode: 0o755 })
  const file = join(dir, name)
  if (createClaim(file, ownerDir)) return true
  const owner = readOwner(file)
  if (owner === ownerDir) return true
  if (owner && existsSync(owner)) return false
  // Stale (or vanished between the two reads): decide under the lock.
  return (
    underLock(dir, name, () => {
      const now = readOwner(file)
      if (now === ownerDir) return true
      if (now !== undefined) {
        if (now && existsSync(now)) return false
        unlinkSync(file)
      }
      return createClaim(file, ownerDir)
    }) ?? false
  )
}

/** Removes NAME's claim if `ownerDir` holds it (idempotent). */
export function releaseName(dir: string, name: string, ownerDir: string): void {
  const file = join(dir, name)
  if (readOwner(file) !== ownerDir) return
  underLock(dir, name, () => {
    if (readOwner(file) === ownerDir) unlinkSync(file)
  })
}

/** Every claim in DIR with its owner (lock files and vanished claims left out). */
export function listClaims(dir: string): ClaimOwner[] {
  let names: string[]
  try {
    names = readdirSync(dir)
  } catch {
    return []
  }
  const out: ClaimOwner[] = []
  for (const name of names) {
    if (name.startsWith('.')) continue
    const owner = readOwner(join(dir, name))
    if (owner !== undefined) out.push({ name, owner })
  }
  return out
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * Removes the leftovers of crashed runs in DIR: claims whose owner directory is gone
 * (anyone's: they are stale for every lab), claims owned under `scope` (this lab's
 * instance directory root) by a directory not in `keep`, and locks whose process died.
 * Other labs' live claims are never touched. Returns the names removed.
 */
export function sweepClaims(dir: string, scope: string, keep: Set<string>): string[] {
  const removed: string[] = []
  let names: string[]
  try {
    names = readdirSync(dir)
  } catch {
    return removed
  }
  const inScope = (owner: string) => owner.startsWith(scope.endsWith('/') ? scope : `${scope}/`)
  for (const name of names) {
    if (name.startsWith('.')) {
      // .NAME.lock holds its taker's pid; .tmp.PID.RANDOM is named after its writer's.
      const pid = name.startsWith('.tmp.') ? Number(name.split('.')[2]) : name.endsWith('.lock') ? Number(readOwner(join(dir, name))) : 0
      if (Number.isInteger(pid) && pid > 0 && !pidAlive(pid)) rmSync(join(dir, name), { force: true })
      continue
    }
    const file = join(dir, name)
    const doomed = (o: string | undefined) => o !== undefined && (!o || !existsSync(o) || (inScope(o) && !keep.has(o)))
    if (!doomed(readOwner(file))) continue
    const done = underLock(dir, name, () => {
      const now = readOwner(file)
      if (!doomed(now)) return false
      unlinkSync(file)
      return true
    })
    if (done) removed.push(name)
  }
  return removed
}
