/**
 * The value a CommonJS module exports as `exports.default` (with `__esModule`), whichever loader
 * imported it: Node's own gives the whole `module.exports` as the default import (so the value is
 * at `.default.default`), while loaders and bundlers that honour `__esModule` (tsx, esbuild) give
 * `exports.default` itself.
 */
export function commonJsDefault<T>(imported: T | { default: T }, isValue: (v: unknown) => v is T): T {
  return isValue(imported) ? imported : (imported as { default: T }).default
}

export const isFunction = <T>(v: unknown): v is T => typeof v === 'function'
