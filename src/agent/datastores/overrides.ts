import { lstat, readFile } from 'node:fs/promises'
import { replaceFile } from '../replace-file.js'
import type { RunUser } from './context.js'
import { CONTROL } from '../../common/engines/value-rules.js'

/** A configuration group's values as the server sends them: typed per the parameter. */
export type OverrideValue = string | number | boolean
export type Overrides = Record<string, OverrideValue>

/** What a caller may name: parameter names of every engine's rules (letters, digits, _ - .). */
const KEY = /^[A-Za-z][A-Za-z0-9_.-]{0,127}$/

/** Thrown for arguments the guest refuses (the RPC answers BadRequest). */
export class OverrideError extends Error {}

/** Checks the `overrides` argument: an object of scalar values under sane keys. */
export function checkOverrides(v: unknown): Overrides {
  if (v === null || v === undefined) return {}
  if (typeof v !== 'object' || Array.isArray(v)) throw new OverrideError('overrides must be an object')
  const out: Overrides = {}
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    if (!KEY.test(k)) throw new OverrideError(`'${k}' is not a valid configuration parameter name`)
    if (typeof x === 'number' && !Number.isFinite(x)) throw new OverrideError(`the value of ${k} is not a finite number`)
    if (typeof x !== 'string' && typeof x !== 'number' && typeof x !== 'boolean') throw new OverrideError(`the value of ${k} must be a string, number or boolean`)
    if (typeof x === 'string' && CONTROL.test(x)) throw new OverrideError(`the value of ${k} has control characters`)
    out[k] = x
  }
  return out
}

/** Writes a config file owned by the run user, mode 0600 (the engine reads it as that user). */
export async function writeOwned(path: string, text: string, user: RunUser): Promise<void> {
  // Replaced, not written through: a link planted at the name is not followed (replace-file.ts).
  await replaceFile(path, text, { mode: 0o600, owner: { uid: user.uid, gid: user.gid } })
}

/**
 * Makes sure the engine's main config pulls in the overrides file (last, so its
 * values win). The line is appended once; configs rendered before this feature
 * existed get it on their first override.
 */
export async function ensureIncluded(mainConf: string, line: string): Promise<void> {
  const text = await readFile(mainConf, 'utf8')
  if (text.split('\n').includes(line)) return
  const st = await lstat(mainConf)
  // The file again, whole, under its mode and owner: a link planted in its place is replaced, not followed.
  await replaceFile(mainConf, (text.endsWith('\n') ? text : text + '\n') + line + '\n', { mode: st.isFile() ? st.mode & 0o777 : 0o600, owner: { uid: st.uid, gid: st.gid } })
}
