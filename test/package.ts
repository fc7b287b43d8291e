import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import semver from 'semver'
import { ROOT } from './helpers/lab.js'

/**
 * The Node versions this package supports (package.json "engines", checked by
 * scripts/setup.sh) must be ones every installed dependency supports too: a dependency
 * that needs a newer Node (cookie 2 needs Node 22) makes `npm ci` warn EBADENGINE and
 * may break at run time on what we promise works.
 */
t.test('every dependency supports every Node version we support', async (t) => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } }
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { engines?: { node?: string } | string[]; optional?: boolean; os?: string[] }> }
  const ours = pkg.engines.node
  t.ok(semver.validRange(ours), `engines.node ${ours}`)
  const bad: string[] = []
  for (const [name, p] of Object.entries(lock.packages)) {
    if (!name || Array.isArray(p.engines) || !p.engines?.node) continue
    if (p.os && !p.os.includes('linux')) continue // never installed here
    if (!semver.subset(ours, p.engines.node)) bad.push(`${name.replace(/^.*node_modules\//, '')} wants node ${p.engines.node}`)
  }
  t.same(bad, [], `every engines.node range covers ${ours}`)
  t.ok(semver.satisfies(process.version, ours), `this Node (${process.version}) is a supported one`)
  const setup = readFileSync(join(ROOT, 'scripts/setup.sh'), 'utf8')
  t.match(setup, `engines" allows: ${ours}`, 'setup.sh checks the same range')
})
