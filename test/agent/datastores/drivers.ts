// The engines' drivers load and fail cleanly in a process with the agent's V8 flags (--jitless: no
// WebAssembly). node-postgres's load-time probe touched the global Response, whose lazy load compiles
// WebAssembly: the real agent died on its first PostgreSQL statement while in-process tests passed.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { AGENT_NODE_FLAGS } from '../../../src/server/compute/local.js'

const dir = mkdtempSync(join(tmpdir(), 'trove-drivers-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))
const src = (p: string) => pathToFileURL(join(import.meta.dirname, '../../../src/agent/datastores', p)).href
const secret = join(dir, 'secret')
writeFileSync(secret, 'x\n', { mode: 0o600 })
const nowhere = join(dir, 'no-such.sock')

for (const [engine, call] of [
  ['postgresql', `(await import('${src('postgresql/driver.ts')}')).postgresClient('${dir}', 5432).query('SELECT 1')`],
  ['mariadb', `(await import('${src('mariadb/driver.ts')}')).mariadbClient('${nowhere}').query('SELECT 1')`],
  ['redis', `(await import('${src('redis/driver.ts')}')).redisClient('${nowhere}', '${secret}').run([['PING']])`],
] as const) {
  t.test(`${engine}: the driver loads under ${AGENT_NODE_FLAGS.join(' ')} and a missing engine is an error, not a crash`, async (t) => {
    const script = `try { await ${call}; console.log('connected?') } catch (e) { console.log('error: ' + e.message) }`
    const r = spawnSync(process.execPath, [...AGENT_NODE_FLAGS, ...process.execArgv, '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 120_000 })
    t.equal(r.status, 0, `exit 0 (${r.stderr.split('\n').slice(0, 3).join(' ')})`)
    t.match(r.stdout, /^error: .*(ENOENT|connect|no such file)/im, 'the connection error, as a guest fault would carry it')
  })
}
