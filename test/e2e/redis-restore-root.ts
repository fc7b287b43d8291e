// A Redis instance restored from a backup keeps the root its source had (Redis keeps ACL users
// outside the RDB: the backup's metadata carries root's rule, with the password as a hash).
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { runCli, startServerProcess, tempDir } from '../helpers/lab.js'

t.test('redis: a restore keeps root and its password', async (t) => {
  const dir = tempDir(t, 'tr')
  const server = await startServerProcess(t, join(dir, 'lab'))
  const json = async (...args: string[]) => {
    const r = await runCli([...args, '-f', 'json'], server.env, 600_000)
    if (r.code !== 0) throw new Error(`trove ${args.join(' ')}: exit ${r.code}: ${r.stderr}`)
    return JSON.parse(r.stdout) as Record<string, unknown>
  }
  const whoami = (ip: string, password: string) =>
    spawnSync('redis-cli', ['-h', ip, '-p', '6379', '--user', 'root', '--no-auth-warning', 'ACL', 'WHOAMI'], { env: { ...process.env, REDISCLI_AUTH: password } })
      .stdout.toString()
      .trim()

  const src = await json('instance', 'create', 'rr-src', '--flavor', '1', '--size', '1', '--datastore', 'redis', '--wait')
  const password = (await json('root', 'enable', 'rr-src')).password as string
  t.equal(whoami(src.ip as string, password), 'root', 'root on the source')
  await json('backup', 'create', 'rr-full', '--instance', 'rr-src', '--wait')
  const copy = await json('instance', 'create', 'rr-copy', '--flavor', '1', '--size', '1', '--backup', 'rr-full', '--wait')
  t.equal(copy.status, 'ACTIVE')
  t.same(await json('root', 'show', 'rr-copy'), { is_root_enabled: true }, 'root enabled on the restored instance')
  t.equal(whoami(copy.ip as string, password), 'root', 'the same root password works on the restored instance')

  // Root disabled at backup time: the restore has none.
  t.equal((await runCli(['root', 'disable', 'rr-src'], server.env)).code, 0)
  await json('backup', 'create', 'rr-noroot', '--instance', 'rr-src', '--wait')
  await json('instance', 'create', 'rr-copy2', '--flavor', '1', '--size', '1', '--backup', 'rr-noroot', '--wait')
  t.same(await json('root', 'show', 'rr-copy2'), { is_root_enabled: false }, 'no root when the source had none')
  await server.stop()
})
