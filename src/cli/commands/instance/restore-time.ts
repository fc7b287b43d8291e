import type { InstanceCreate, TroveClient } from '../../../sdk/index.js'
import type { OptionSpec } from '../../spec.js'
import { CliError, usageError } from '../../errors.js'
import { findInstance } from '../../resolve.js'

/** Point-in-time restore options of instance create (trove lab extension, README "Backups"). */
export const RESTORE_TIME_OPTIONS: OptionSpec[] = [
  { flags: '--restore-from <SOURCE>', description: 'Restore from the log archive of this instance (name or ID; the ID of a deleted one) to --restore-time or --restore-latest (trove lab)' },
  {
    flags: '--restore-time <TIME>',
    description: 'With --restore-from: the point in time, ISO 8601 with its zone, e.g. 2026-12-04T10:00:00Z; every transaction committed at or before it is restored (trove lab)',
  },
  { flags: '--restore-latest', description: 'With --restore-from: everything the archive holds (trove lab)' },
]

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** The restorePoint the options ask for, or undefined without --restore-from (the server checks the window). */
export async function restoreTimePoint(client: TroveClient, opts: Record<string, unknown>): Promise<InstanceCreate['restorePoint']> {
  if (opts.restoreFrom === undefined) {
    if (opts.restoreTime !== undefined || opts.restoreLatest) throw usageError('--restore-time and --restore-latest need --restore-from SOURCE')
    return undefined
  }
  if (opts.backup) throw usageError('--restore-from and --backup cannot be used together')
  if ((opts.restoreTime === undefined) === !opts.restoreLatest) throw usageError('--restore-from needs one of --restore-time TIME or --restore-latest')
  const source = String(opts.restoreFrom)
  let id = source
  try {
    id = (await findInstance(client, source)).id
  } catch (e) {
    // A deleted source is found by its ID only (its archive outlives it for its retention).
    if (!(e instanceof CliError) || !UUID.test(source)) throw e
  }
  return opts.restoreLatest ? { instanceRef: id, latest: true } : { instanceRef: id, restoreTime: String(opts.restoreTime) }
}
