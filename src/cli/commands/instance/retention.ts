import type { OptionSpec } from '../../spec.js'
import { usageError } from '../../errors.js'

/** `--backup-retention` and `--backup-retention-count` of instance create and update (lab extension). */
export const RETENTION_OPTIONS: OptionSpec[] = [
  { flags: '--backup-retention <DAYS>', description: 'Days automated (scheduled) backups are kept, 0 to 365; 0 turns automated backups off (trove lab; default 1)' },
  { flags: '--backup-retention-count <COUNT>', description: "At most this many automated backups are kept, 1 to 1000, or 'none' for no count limit (trove lab)" },
]

const integer = (flag: string, v: unknown): number => {
  if (!/^-?\d+$/.test(String(v))) throw usageError(`argument ${flag}: invalid int value: '${String(v)}'`)
  return Number(v)
}

/** The `backup_retention` body the options ask for, or undefined when they are not given (the server checks the ranges). */
export function retentionBody(opts: Record<string, unknown>): { days?: number; count?: number | null } | undefined {
  if (opts.backupRetention === undefined && opts.backupRetentionCount === undefined) return undefined
  const body: { days?: number; count?: number | null } = {}
  if (opts.backupRetention !== undefined) body.days = integer('--backup-retention', opts.backupRetention)
  if (opts.backupRetentionCount !== undefined) body.count = String(opts.backupRetentionCount) === 'none' ? null : integer('--backup-retention-count', opts.backupRetentionCount)
  return body
}
