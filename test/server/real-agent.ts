import t from 'tap'
import { runMain, startLab } from '../helpers/lab.js'

// The server's own process may carry NODE_OPTIONS from whatever started it (here tap's
// loaders); its agents must start clean anyway.
t.test('an in-process lab starts real agents: a Redis instance becomes ACTIVE and is deleted', async (t) => {
  const lab = await startLab(t, { rateLimits: [] })
  const created = await runMain(['instance', 'create', 'inproc', '--flavor', '1', '--size', '1', '--datastore', 'redis', '--wait', '--timeout', '60', '-f', 'value', '-c', 'status'], lab.env)
  t.equal(created.code, 0, created.stderr)
  t.equal(created.stdout.trim(), 'ACTIVE')
  const deleted = await runMain(['instance', 'delete', 'inproc', '--wait', '--timeout', '60'], lab.env)
  t.equal(deleted.code, 0, deleted.stderr)
})
