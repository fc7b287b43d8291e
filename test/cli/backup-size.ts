// Backup sizes in a table read as sizes ("101 B (9.4e-08 GB)"); machine formats keep the wire number.
import t from 'tap'
import { runMain } from '../helpers/lab.js'
import { fakeTrove } from '../helpers/fake-trove.js'

t.test('backup show: a readable size in the table, the number elsewhere', async (t) => {
  const backup = {
    id: '5f0c5f5e-1111-4222-8333-944445555666',
    name: 'b1',
    status: 'COMPLETED',
    size: 9.4e-8,
    instance_id: null,
    parent_id: null,
    locationRef: 'x',
    created: 'c',
    updated: 'u',
    description: null,
    datastore: { type: 'redis', version: '7.0', version_id: 'v' },
    project_id: 'p1',
  }
  const srv = await fakeTrove(t, (s) => (s.url.startsWith('/backups/') ? { body: { backup } } : { body: { backups: [backup] } }))
  const env = { ...srv.env, TROVE_NO_FAST_PATH: '1' }
  let r = await runMain(['backup', 'show', backup.id], env)
  t.equal(r.code, 0, r.stderr)
  t.match(r.stdout, /\| size +\| 101 B \(9\.4e-08 GB\) +\|/)
  r = await runMain(['backup', 'show', backup.id, '-f', 'value', '-c', 'size'], env)
  t.equal(r.stdout, '9.4e-08\n', '-f value: the number')
  r = await runMain(['backup', 'show', backup.id, '-f', 'json'], env)
  t.equal((JSON.parse(r.stdout) as { size: number }).size, 9.4e-8, '-f json: the number')
})
