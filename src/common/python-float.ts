/**
 * Python's float repr, which upstream's answers (JSON floats such as `1.0`) and the openstack
 * CLI's output (cells, YAML) both print: the server writes configuration floats with it, the
 * CLI its tables. Hand-written: JavaScript's own number formatting differs from Python's
 * (`1` for 1.0, `1e+21` thresholds), and no package reproduces repr(float).
 */

/** `repr(float)` in Python 3: shortest round-trip digits, exponent form outside 1e-4..1e16. */
export function pyFloatRepr(n: number): string {
  if (Number.isNaN(n)) return 'nan'
  if (n === Infinity) return 'inf'
  if (n === -Infinity) return '-inf'
  if (n === 0) return Object.is(n, -0) ? '-0.0' : '0.0'
  const [mantissa, expText] = n.toExponential().split('e') as [string, string]
  const exp = Number(expText)
  const sign = n < 0 ? '-' : ''
  const digits = mantissa.replace('-', '').replace('.', '')
  const decpt = exp + 1
  if (decpt > -4 && decpt <= 16) {
    if (decpt <= 0) return `${sign}0.${'0'.repeat(-decpt)}${digits}`
    if (digits.length <= decpt) return `${sign}${digits}${'0'.repeat(decpt - digits.length)}.0`
    return `${sign}${digits.slice(0, decpt)}.${digits.slice(decpt)}`
  }
  const mant = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits
  const expSign = exp < 0 ? '-' : '+'
  return `${sign}${mant}e${expSign}${String(Math.abs(exp)).padStart(2, '0')}`
}
