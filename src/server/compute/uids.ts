import { readFileSync } from 'node:fs'
import { claimName, listClaims, releaseName, sweepClaims } from './claims.js'

/**
 * A uid/gid of its own per instance (docs/isolation.md): its engine and agent run as it
 * inside the sandbox, so nothing of one instance is another's to read, signal or write.
 * Uids come from a configurable range and are claimed machine-wide like loopback
 * addresses (claims.ts: a file per uid naming the owning instance directory), so two
 * labs on one machine never hand out the same one. gid = uid: each instance its own
 * group too. No host /etc/passwd entry is made (the sandbox gets its own, passwdFor);
 * a uid or gid the host's /etc/passwd or /etc/group already names is skipped.
 */

export interface UidRange {
  first: number
  last: number
}

export interface InstanceIds {
  uid: number
  gid: number
}

export interface UidOptions {
  /** The claim directory shared by every lab on the machine. */
  claimDir?: string
  range?: UidRange
  /** Host account files read for ids already in use (tests point them elsewhere). */
  passwdFile?: string
  groupFile?: string
}

export const UID_CLAIM_DIR = process.env.TROVE_UID_CLAIMS ?? '/run/trove/uids'
export const DEFAULT_UID_RANGE: UidRange = { first: 420000, last: 429999 }

/** TROVE_UID_RANGE=FIRST-LAST, else the default; a malformed range is refused in one line. */
export function uidRangeFrom(text: string | undefined): UidRange {
  if (!text) return DEFAULT_UID_RANGE
  const m = /^(\d+)-(\d+)$/.exec(text.trim())
  const first = Number(m?.[1])
  const last = Number(m?.[2])
  // 0-999 are the system's, 65534 is nobody, 2^32-1 is (uid_t)-1.
  if (!m || first < 1000 || last < first || last >= 2 ** 32 - 1) throw new Error(`uid range "${text}" must be FIRST-LAST with 1000 <= FIRST <= LAST < 4294967295`)
  return { first, last }
}

/** Ids a host account file (passwd: field 3, group: field 3) already uses. */
function hostIds(file: string): Set<number> {
  const ids = new Set<number>()
  let text = ''
  try {
    text = readFileSync(file, 'utf8')
  } catch {
    return ids
  }
  for (const line of text.split('\n')) {
    const id = Number(line.split(':')[2])
    if (line && Number.isInteger(id)) ids.add(id)
  }
  return ids
}

function settings(o: UidOptions) {
  return { dir: o.claimDir ?? UID_CLAIM_DIR, range: o.range ?? uidRangeFrom(process.env.TROVE_UID_RANGE) }
}

/**
 * Claims a free uid (and the same gid) for the instance at `ownerDir`. Each call claims
 * another uid: a flow resuming after a crash asks `uidOf` first (a scan of every claim,
 * which allocation itself does not pay). Starts at a random offset in the range so
 * concurrent labs rarely contend for the same claim (they would still get different ones).
 */
export function allocateUid(ownerDir: string, o: UidOptions = {}): InstanceIds {
  const { dir, range } = settings(o)
  const users = hostIds(o.passwdFile ?? '/etc/passwd')
  const groups = hostIds(o.groupFile ?? '/etc/group')
  const size = range.last - range.first + 1
  const start = Math.floor(Math.random() * size)
  for (let i = 0; i < size; i++) {
    const uid = range.first + ((start + i) % size)
    if (users.has(uid) || groups.has(uid)) continue
    if (claimName(dir, String(uid), ownerDir)) return { uid, gid: uid }
  }
  throw new Error(`no free uid left in ${range.first}-${range.last} (claims in ${dir})`)
}

const inRange = (n: number, r: UidRange) => Number.isInteger(n) && n >= r.first && n <= r.last

/** Gives the uid back (idempotent; a claim another owner holds is left alone). */
export function releaseUid(ids: InstanceIds, ownerDir: string, o: UidOptions = {}): void {
  releaseName(settings(o).dir, String(ids.uid), ownerDir)
}

/** Claims again the uid an instance's record names (after a reboot emptied /run); false if another lab took it meanwhile. */
export function reclaimUid(ids: InstanceIds, ownerDir: string, o: UidOptions = {}): boolean {
  const { dir, range } = settings(o)
  return inRange(ids.uid, range) && claimName(dir, String(ids.uid), ownerDir)
}

/** The uid an owner holds, if any (e.g. to re-assert it after a reboot emptied /run). */
export function uidOf(ownerDir: string, o: UidOptions = {}): InstanceIds | undefined {
  const { dir, range } = settings(o)
  const held = listClaims(dir).find((c) => c.owner === ownerDir && inRange(Number(c.name), range))
  return held ? { uid: Number(held.name), gid: Number(held.name) } : undefined
}

/**
 * After a crash: removes uid claims of instance directories under `instancesDir` that
 * are not in `keep` (the owners this lab still has), and claims of any lab whose owner
 * directory is gone. Returns the uids released.
 */
export function sweepUids(instancesDir: string, keep: Iterable<string>, o: UidOptions = {}): number[] {
  return sweepClaims(settings(o).dir, instancesDir, new Set(keep)).map(Number)
}

/** Where the instance's volume is mounted inside its sandbox: the `trove` user's home. */
export const SANDBOX_HOME = '/var/lib/trove-instance'

/**
 * The sandbox's /etc/passwd and /etc/group: root, the instance's own `trove` user and
 * group, and nobody. Every login shell is nologin: nothing inside logs in; the engines
 * and agent are started as `trove` directly (MariaDB's `user=trove` only needs the name to
 * resolve), and what runs a command (PostgreSQL's COPY ... PROGRAM, archive_command;
 * mariadb-install-db) uses /bin/sh explicitly, never the user's shell. The lab's run user
 * (troveguest) has nologin today and all three engines work under it.
 */
export function passwdFor(ids: InstanceIds): { passwd: string; group: string } {
  for (const id of [ids.uid, ids.gid])
    if (!Number.isInteger(id) || id < 1000 || id === 65534 || id >= 2 ** 32 - 1) throw new Error(`sandbox id ${id} is not an instance's: 1000 or above, not nobody's`)
  return {
    passwd: `root:x:0:0:root:/root:/usr/sbin/nologin
trove:x:${ids.uid}:${ids.gid}:trove instance:${SANDBOX_HOME}:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
`,
    group: `root:x:0:
trove:x:${ids.gid}:
nogroup:x:65534:
`,
  }
}
