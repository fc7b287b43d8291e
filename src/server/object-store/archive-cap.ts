import { readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { GB } from '../../common/units.js'

/**
 * How much of the store one instance's log archive may take: its volume size times a factor
 * (TROVE_ARCHIVE_CAP_FACTOR, default 20: a day of WAL for a volume written over ~20 times a day). An archive
 * grows with what the tenant writes; without a cap one instance could fill the host's disk under every other
 * tenant's backups. Over the cap the store refuses (507) and the agent's archive status says so (lagging,
 * with the store's message); it takes new segments again once retention expired older ones.
 */
export function archiveCapBytes(volumeGb: number, env: NodeJS.ProcessEnv = process.env): { bytes: number; factor: number } {
  const f = Number(env.TROVE_ARCHIVE_CAP_FACTOR)
  const factor = Number.isFinite(f) && f > 0 ? f : 20
  return { bytes: Math.floor(factor * Math.max(1, volumeGb) * GB), factor }
}

/** Totals per archive directory, kept current by `archiveGrew` and read again from the disk every 10 s (expiry removes files). */
const totals = new Map<string, { bytes: number; at: number }>()
const FRESH_MS = 10_000

/** The bytes of the regular files in an archive directory (0 if it does not exist). */
export async function archiveBytes(dir: string, now = Date.now()): Promise<number> {
  const held = totals.get(dir)
  if (held && now - held.at < FRESH_MS) return held.bytes
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => [])
  const sizes = await Promise.all(
    entries
      .filter((e) => e.isFile())
      .map((e) =>
        stat(join(dir, e.name)).then(
          (s) => s.size,
          () => 0,
        ),
      ),
  )
  const bytes = sizes.reduce((a, b) => a + b, 0)
  totals.set(dir, { bytes, at: now })
  return bytes
}

/** The directory changed in a way not counted (a seal: its sidecar written, an open object renamed): read it again next time. */
export function archiveChanged(dir: string): void {
  totals.delete(dir)
}

/** A write changed the directory's total by `delta` bytes. */
export function archiveGrew(dir: string, delta: number): void {
  const held = totals.get(dir)
  if (held) held.bytes += delta
}
