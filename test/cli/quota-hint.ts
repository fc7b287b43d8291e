// A quota error says how to raise the quota (and which resource), after upstream's own message.
import t from 'tap'
import { runMain } from '../helpers/lab.js'
import { fakeTrove, fault } from '../helpers/fake-trove.js'

t.test('Quota exceeded: the upstream message, then how to see and raise the quota', async (t) => {
  const srv = await fakeTrove(t, (s) =>
    s.method === 'POST' && s.url === '/instances'
      ? fault(413, 'overLimit', "Quota exceeded for resources: ['instances'].")
      : s.url.startsWith('/flavors')
        ? { body: { flavor: { id: 1, str_id: '1', name: 'm1.tiny', ram: 512, vcpus: 1, disk: 1, links: [] } } }
        : { status: 404, body: { itemNotFound: { code: 404, message: 'no' } } },
  )
  const r = await runMain(['instance', 'create', 'db1', '--flavor', '1', '--size', '1', '--datastore', 'redis'], { ...srv.env, TROVE_NO_FAST_PATH: '1' })
  t.equal(r.code, 1)
  t.equal(
    r.stderr,
    "Quota exceeded for resources: ['instances']. (HTTP 413)\nTry: see the project's usage with 'trove quota show PROJECT'; an admin raises the limit: 'trove quota update PROJECT instances N' (a lab: OS_CLOUD=trove-lab-admin), or frees some (delete instances or backups)\n",
  )
})
