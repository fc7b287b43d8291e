// tap's `after` script (.taprc): runs once when every test file has ended. It removes the template
// dirs the suite's labs shared (helpers/templates-dir.ts, helpers/sandbox-templates.ts), ~100 MB per
// checkout that would otherwise stay in /tmp after every run; a dir named by TROVE_TEMPLATES_DIR from
// outside is left alone. And the slow-disk cgroups of test processes that are gone (helpers/slow-disk-sweep.ts).
import { rmSync } from 'node:fs'
import { sweepSlowDiskCgroups } from './slow-disk-sweep.js'
import { SUITE_SANDBOX_TEMPLATES_DIR } from './sandbox-templates.js'
import { SUITE_TEMPLATES_DIR } from './templates-dir.js'

if (process.env.TROVE_TEMPLATES_DIR === undefined || process.env.TROVE_TEMPLATES_DIR === SUITE_TEMPLATES_DIR) rmSync(SUITE_TEMPLATES_DIR, { recursive: true, force: true })
rmSync(SUITE_SANDBOX_TEMPLATES_DIR, { recursive: true, force: true })
sweepSlowDiskCgroups()
