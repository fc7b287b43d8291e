import t from 'tap'
import { chmodSync, mkdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { defaultDataDir } from '../../src/server/index.js'
import { tempDir, buildServer } from '../helpers/lab.js'

t.test('default data directory', async (t) => {
  t.equal(defaultDataDir({ TROVE_DATA_DIR: '/srv/x' }), '/srv/x', 'TROVE_DATA_DIR wins')
  // Not upstream Trove's /var/lib/trove: Debian's trove packages own that one.
  if (process.getuid?.() === 0) t.equal(defaultDataDir({}), '/var/lib/trove-lab', 'root: a directory the engine user can reach')
  else t.equal(defaultDataDir({ XDG_DATA_HOME: '/x' }), '/x/trove-lab')
})

t.test('the data directory must be reachable by the engine user and short enough for sockets', async (t) => {
  const dir = tempDir(t, 'td')
  const locked = join(dir, 'locked')
  mkdirSync(locked, { mode: 0o700 })
  chmodSync(locked, 0o700)
  await t.rejects(buildServer({ dataDir: join(locked, 'lab'), port: 0, log: () => {} }), /not reachable by the engine user: .*locked has mode 700/)
  await t.rejects(buildServer({ dataDir: join(dir, 'x'.repeat(60)), port: 0, log: () => {} }), /data directory path is too long/)

  const ok = await buildServer({ dataDir: join(dir, 'lab'), port: 0, log: () => {} })
  t.teardown(() => ok.close())
  t.equal(statSync(join(dir, 'lab')).mode & 0o777, 0o711, 'DIR is 0711: traversable, not listable')
  for (const f of ['trove.db', 'trove.db-wal', 'trove.db-shm']) t.equal(statSync(join(dir, 'lab', f)).mode & 0o777, 0o600, `${f} is 0600`)
})

t.test('a started server closes once, however often close is called', async (t) => {
  const dir = tempDir(t, 'tc')
  const server = await buildServer({ dataDir: join(dir, 'lab'), host: '127.0.0.1', port: 0, log: () => {} })
  await server.start()
  const first = server.close()
  t.equal(server.close(), first, 'a close while one runs is that close')
  await first
  await t.resolves(server.close(), 'a close after it resolves')
})
