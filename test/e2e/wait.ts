// --wait end to end: the real CLI against a real `trove server` with its real agents and Redis
// learns of ACTIVE (create) and of the instance's end (delete) through the long poll of
// GET /instances/{id}?wait_for_change (README "API notes"), not by polling.
import t from 'tap'
import { join } from 'node:path'
import { runCli, startServerProcess, tempDir } from '../helpers/lab.js'
import { detectEngines } from '../../src/server/compute/engines.js'

const redis = (await detectEngines()).find((e) => e.manager === 'redis')

t.test('trove instance create --wait and delete --wait use the long poll', { skip: redis ? false : 'redis-server is not installed' }, async (t) => {
  const dir = tempDir(t, 'tw')
  const server = await startServerProcess(t, join(dir, 'lab'))
  t.teardown(() => server.stop())
  const env = server.env

  const created = await runCli(['instance', 'create', 'waited', '--flavor', 'm1.tiny', '--size', '1', '--datastore', 'redis', '--wait', '--debug', '-f', 'json'], env)
  t.equal(created.code, 0, 'create --wait exits 0', { stderr: created.stderr.slice(-3000) })
  const { status, id } = JSON.parse(created.stdout) as { status: string; id: string }
  t.equal(status, 'ACTIVE', 'create --wait ends with the instance ACTIVE')
  const requests = created.stderr.split('\n').filter((l) => l.startsWith(`REQ: GET `) && l.includes(`/instances/${id}`))
  t.ok(requests.length >= 2, `${requests.length} GETs of the instance`)
  t.notOk(requests[0]!.includes('wait_for_change'), 'first a plain GET (it learns that the server offers the long poll)')
  t.ok(
    requests.slice(1).every((l) => /\?wait_for_change=BUILD&wait_timeout=[\d.]+$/.test(l)),
    'then only long polls from BUILD',
  )
  t.ok(requests.length <= 3, 'a change answers a poll: no polling loop (one poll per status change, BUILD -> ACTIVE)')

  const deleted = await runCli(['instance', 'delete', id, '--yes', '--wait', '--debug'], env)
  t.equal(deleted.code, 0, 'delete --wait exits 0', { stderr: deleted.stderr.slice(-3000) })
  const polls = deleted.stderr.split('\n').filter((l) => l.startsWith('REQ: GET ') && l.includes('wait_for_change='))
  t.ok(polls.length >= 1 && polls.length <= 3, `delete --wait: ${polls.length} long poll(s) until the instance is gone`)
  t.match(deleted.stderr, /RESP: \[404\]/, 'the wait ends at the 404 of the deleted instance')
  const list = await runCli(['instance', 'list', '-f', 'value', '-c', 'ID'], env)
  t.equal(list.stdout, '', 'no instance left')
})
