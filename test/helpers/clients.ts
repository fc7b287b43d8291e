import { existsSync } from 'node:fs'

/**
 * The python `trove` client (python3-troveclient). scripts/setup.sh diverts Debian's
 * /usr/bin/trove to this path so that `trove` on PATH is this package's CLI; a host set
 * up before that still has it at /usr/bin/trove.
 */
export const PYTHON_TROVE_DIVERTED = '/usr/libexec/trove-lab/python-trove'
export const PYTHON_TROVE = existsSync(PYTHON_TROVE_DIVERTED) ? PYTHON_TROVE_DIVERTED : '/usr/bin/trove'
