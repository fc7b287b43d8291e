import { createHash } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = resolve(fileURLToPath(import.meta.url), '../../..')

/**
 * The sandbox template dir the sandboxed labs of one test run share (ServerOptions.sandboxTemplatesDir;
 * compute/sandbox-template.ts names each template by a fingerprint of what makes it): MariaDB's and
 * PostgreSQL's templates are built once per run instead of once per lab, and a lab's first creates copy
 * one instead of initialising inside. One per checkout, outside it, made by the first lab (root, 0700);
 * the suite's `after` script (test/helpers/after-suite.ts) removes it. Files whose subject is the
 * template build itself (isolation-sandbox's first MariaDB and PostgreSQL) keep their lab's own.
 */
export const SUITE_SANDBOX_TEMPLATES_DIR = join(tmpdir(), `trove-test-sandbox-templates-${createHash('sha256').update(ROOT).digest('hex').slice(0, 12)}`)

/**
 * Server options of a sandboxed lab that shares the suite's sandbox templates; none with
 * TROVE_TEST_OWN_SANDBOX_TEMPLATES=1 (each lab builds its own, as before: to measure what sharing saves).
 */
export const sharedSandboxTemplates: { sandboxTemplatesDir?: string } = process.env.TROVE_TEST_OWN_SANDBOX_TEMPLATES === '1' ? {} : { sandboxTemplatesDir: SUITE_SANDBOX_TEMPLATES_DIR }
