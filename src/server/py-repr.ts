/** Python repr of a JSON value, as jsonschema prints instances in its messages and upstream prints lists in its faults (quotas). */
export function pyRepr(v: unknown, depth = 0): string {
  if (v === null || v === undefined) return 'None'
  if (v === true) return 'True'
  if (v === false) return 'False'
  if (typeof v === 'number') return String(v)
  if (typeof v === 'string') return v.includes("'") && !v.includes('"') ? `"${v}"` : `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`
  // Cut off like Python's reprlib: a deeply nested body must not exhaust the stack (that was a 500).
  if (depth > 64) return '...'
  if (Array.isArray(v)) return `[${v.map((x) => pyRepr(x, depth + 1)).join(', ')}]`
  return `{${Object.entries(v as Record<string, unknown>)
    .map(([k, x]) => `${pyRepr(k)}: ${pyRepr(x, depth + 1)}`)
    .join(', ')}}`
}
