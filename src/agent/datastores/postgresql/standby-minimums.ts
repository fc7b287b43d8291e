import { execFile } from 'node:child_process'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { InstancePaths, RunUser } from '../types.js'
import { writeOwned } from '../overrides.js'
import { keepIncluded } from '../reconfigure.js'
import { postgresOverridesFile } from './overrides.js'
import { pgLit } from './users.js'

const exec = promisify(execFile)

/**
 * The settings PostgreSQL checks before it replays WAL as a hot standby (archive
 * recovery of a restored incremental backup, or a replica): each must be at least the
 * value the primary ran with, as recorded in pg_control, else the engine stops with
 * "recovery aborted because of insufficient parameter settings". A configuration
 * group that raised max_connections on the source would otherwise make every replica
 * and every incremental restore of it fail; one that lowered it on an old primary
 * would make it fail as a standby of the new one after a promote.
 * [setting, pg_controldata label, our base value]
 */
export const STANDBY_SETTINGS: ReadonlyArray<readonly [string, string, number]> = [
  ['max_connections', 'max_connections setting', 100],
  ['max_worker_processes', 'max_worker_processes setting', 8],
  ['max_wal_senders', 'max_wal_senders setting', 5],
  ['max_prepared_transactions', 'max_prepared_xacts setting', 0],
  ['max_locks_per_transaction', 'max_locks_per_xact setting', 64],
]
export const STANDBY_SETTING_NAMES = STANDBY_SETTINGS.map(([name]) => name)

/** conf/standby-minimums.conf: included after postgresql.conf's own values, before the configuration group's. */
export const standbyMinimumsFile = (paths: InstancePaths): string => join(paths.conf, 'standby-minimums.conf')
const includeLine = (paths: InstancePaths): string => `include_if_exists = ${pgLit(standbyMinimumsFile(paths))}`
const overridesLine = (paths: InstancePaths): string => `include_if_exists = ${pgLit(postgresOverridesFile(paths))}`
const SETTING_LINE = /^([a-z_]+) = (\d+)\s*$/

/** The primary's values as pg_control of the (restored, copied or rewound) data dir records them. */
export async function controlSettings(controldata: string, dataDir: string): Promise<Record<string, number>> {
  const { stdout } = await exec(controldata, ['-D', dataDir], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C' } })
  const out: Record<string, number> = {}
  for (const [name, label] of STANDBY_SETTINGS) {
    const m = new RegExp(`^${label}:\\s+(\\d+)\\s*$`, 'm').exec(stdout)
    if (m) out[name] = Number(m[1])
  }
  return out
}

/** The values the minimums file holds now ({} without one). */
export async function currentMinimums(paths: InstancePaths): Promise<Record<string, number>> {
  const text = await readFile(standbyMinimumsFile(paths), 'utf8').catch(() => '')
  const out: Record<string, number> = {}
  for (const line of text.split('\n')) {
    const m = SETTING_LINE.exec(line)
    if (m && STANDBY_SETTING_NAMES.includes(m[1]!)) out[m[1]!] = Number(m[2])
  }
  return out
}

/**
 * A configuration group's values with the standby settings raised to the minimums: the
 * group's file is included last, so a lower value there would win over the minimums.
 * Returns the overrides to write and what was raised.
 */
export function raiseOverrides<T extends Record<string, unknown>>(overrides: T, minimums: Record<string, number>): { overrides: T; raised: string[] } {
  const out: Record<string, unknown> = { ...overrides }
  const raised: string[] = []
  for (const [name, min] of Object.entries(minimums)) {
    const v = out[name]
    if (typeof v === 'number' && v < min) {
      out[name] = min
      raised.push(`${name} ${v} -> ${min}`)
    }
  }
  return { overrides: out as T, raised }
}

/**
 * Keeps the primary's values a hot standby needs: for the settings above that the
 * primary (`primary`: from pg_control or asked of the live source) runs higher than our
 * base config, the minimums file gets the higher of that and what it had; it is included
 * before the group's file, whose lower values are raised in place. Returns what was raised.
 */
export async function raiseToPrimarySettings(paths: InstancePaths, user: RunUser, primary: Record<string, number>): Promise<string[]> {
  const kept = await currentMinimums(paths)
  const need: Record<string, number> = {}
  for (const [name] of STANDBY_SETTINGS) need[name] = Math.max(kept[name] ?? 0, primary[name] ?? 0)
  // Also below our base: a group that lowered max_connections under what the primary runs.
  const raised = await raiseGroupFile(paths, need)
  // Kept in the file too (so a later group is raised as well): values above our base, those the
  // group had lower, and those the file already held.
  const lines = STANDBY_SETTINGS.filter(([name, , base]) => need[name]! > base || name in kept || raised.some((r) => r.startsWith(`${name} `))).map(([name]) => `${name} = ${need[name]}`)
  if (lines.length) {
    await writeOwned(standbyMinimumsFile(paths), `# Generated by the trove agent: the primary's values a hot standby needs (pg_control).\n${lines.join('\n')}\n`, user)
    await includeBeforeGroup(paths)
  }
  return [...lines, ...raised.map((r) => `group's ${r}`)]
}

/** The group's file lines `name = N` below a minimum, raised in place (the file keeps its other lines). */
async function raiseGroupFile(paths: InstancePaths, minimums: Record<string, number>): Promise<string[]> {
  const file = postgresOverridesFile(paths)
  const text = await readFile(file, 'utf8').catch(() => undefined)
  if (text === undefined) return []
  const raised: string[] = []
  const next = text
    .split('\n')
    .map((line) => {
      const m = SETTING_LINE.exec(line)
      const min = m ? minimums[m[1]!] : undefined
      if (!m || min === undefined || Number(m[2]) >= min) return line
      raised.push(`${m[1]} ${m[2]} -> ${min}`)
      return `${m[1]} = ${min}`
    })
    .join('\n')
  if (raised.length) await writeFile(file, next)
  return raised
}

/** The minimums' include line, placed before the group's include (so the group's values, raised, still win). */
async function includeBeforeGroup(paths: InstancePaths): Promise<void> {
  const main = join(paths.conf, 'postgresql.conf')
  const lines = (await readFile(main, 'utf8')).split('\n')
  const line = includeLine(paths)
  const at = lines.indexOf(line)
  const group = lines.indexOf(overridesLine(paths))
  if (at >= 0 && (group < 0 || at < group)) return
  if (at >= 0) lines.splice(at, 1)
  const g = lines.indexOf(overridesLine(paths))
  if (g >= 0) lines.splice(g, 0, line)
  else {
    if (lines[lines.length - 1] === '') lines.pop()
    lines.push(line, '')
  }
  await writeFile(main, lines.join('\n'))
}

/** After postgresql.conf was rendered again (resize, access, upgrade): include the minimums file if there is one. */
export function keepStandbyMinimums(paths: InstancePaths): Promise<void> {
  return keepIncluded(join(paths.conf, 'postgresql.conf'), standbyMinimumsFile(paths), includeLine(paths))
}
