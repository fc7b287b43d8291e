import { fileURLToPath, pathToFileURL } from 'node:url'

/**
 * `--import` this in a child that runs the repository's TypeScript: the loader of the test processes
 * (.taprc), so that the child's coverage is measured on the same transform, with the same source map
 * (scripts/coverage-report.mjs counts one map per file).
 */
export const TS_LOADER = pathToFileURL(fileURLToPath(new URL('../../scripts/ts-loader/register.mjs', import.meta.url))).href
