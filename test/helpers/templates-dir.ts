import { createHash } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = resolve(fileURLToPath(import.meta.url), '../../..')

/**
 * The template dir the labs of one test run share (TROVE_TEMPLATES_DIR, read by the server; the
 * template cache keys each template by everything that shapes it): each engine is initialised
 * once per run instead of once per lab. One per checkout, outside it; the suite's `after` script
 * (test/helpers/after-suite.ts) removes it.
 */
export const SUITE_TEMPLATES_DIR = join(tmpdir(), `trove-test-templates-${createHash('sha256').update(ROOT).digest('hex').slice(0, 12)}`)
