// detectEngines (src/server/compute/engines.ts) probes the engines' binaries once per set of binaries in a
// process: a second server in the same process reuses the answer; a replaced binary or a failed probe is
// asked again. The binaries here are stand-ins (a script that answers `--version` and counts its runs), put
// first on PATH before the module reads it.
import t from 'tap'
import { chmodSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { tempDir } from '../../helpers/lab.js'

const dir = tempDir(t, 'tve')
const runs = join(dir, 'runs')
writeFileSync(runs, '')
const bin = join(dir, 'redis-server')
const redis = (version: string, exit = 0) => {
  writeFileSync(bin, `#!/bin/sh\necho run >> ${runs}\necho "Redis server v=${version} sha=00000000:0 malloc=jemalloc-5.3.0 bits=64 build=0"\nexit ${exit}\n`)
  chmodSync(bin, 0o755)
}
const count = () => readFileSync(runs, 'utf8').split('\n').filter(Boolean).length
process.env.PATH = `${dir}:${process.env.PATH ?? '/usr/bin:/bin'}`
const { detectEngines } = await import('../../../src/server/compute/engines.js')
const redisOf = async () => (await detectEngines()).find((e) => e.datastore === 'redis')?.version

t.test('once per set of binaries; a replaced binary or a failed probe is asked again', async (t) => {
  redis('7.0.15')
  t.equal(await redisOf(), '7.0.15', 'the version the binary gives')
  t.equal(count(), 1, 'one run')
  t.equal(detectEngines(), detectEngines(), 'the same answer for the next servers')
  t.equal(await redisOf(), '7.0.15')
  t.equal(count(), 1, 'no other run')

  redis('7.2.4') // an upgrade: the file changes (size, mtime)
  t.equal(await redisOf(), '7.2.4', 'a replaced binary is probed again')
  t.equal(count(), 2)

  redis('7.2.5', 1) // fails: not kept
  t.equal(await redisOf(), undefined, 'a binary that fails is not offered')
  t.equal(await redisOf(), undefined)
  t.equal(count(), 4, 'and is asked again by the next server, not remembered as missing')
})
