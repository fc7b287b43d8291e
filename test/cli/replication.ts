// The replication commands against a lab without agents: requests, messages and exit codes.
import t from 'tap'
import { runMain, startLab } from '../helpers/lab.js'

t.test('instance create --replica-of/--replica-count, promote, eject, detach', async (t) => {
  const lab = await startLab(t, { spawnAgents: false })
  const env = lab.env
  const made = await runMain(['instance', 'create', 'src', '--flavor', '1', '--size', '1', '--datastore', 'mariadb', '-f', 'value', '-c', 'id'], env)
  t.equal(made.code, 0, 'a source (it stays BUILD: no agents here)')
  const id = made.stdout.trim()

  const unknown = await runMain(['instance', 'create', 'r', '--replica-of', 'nope'], env)
  t.same([unknown.code, unknown.stderr], [1, "No instance with a name or ID of 'nope' exists.\n"], '--replica-of is resolved by name or id')
  const count = await runMain(['instance', 'create', 'r', '--flavor', '1', '--size', '1', '--datastore', 'mariadb', '--replica-count', '2'], env)
  t.match(count.stderr, /^Replica count only valid when creating replicas\. Cannot create 2 instances\. \(HTTP 400\)/, '--replica-count alone: the server refuses')
  const busy = await runMain(['instance', 'create', 'r', '--replica-of', 'src', '--flavor', '1'], env)
  t.equal(busy.stdout, 'Warning: Flavor is ignored for creating replica.\n', 'the flavor is ignored with a warning (stdout)')
  t.match(busy.stderr, new RegExp(`^Instance ${id} is not currently available for an action to be performed \\(instance status was BUILD\\)\\. \\(HTTP 422\\)`), 'the source must be able to act')
  t.equal(busy.code, 1)
  const size = await runMain(['instance', 'create', 'r', '--replica-of', id, '--size', '1'], env)
  t.match(size.stderr, /^Cannot specify volume when creating replicas\. \(HTTP 400\)/)

  for (const verb of ['promote', 'eject', 'detach']) {
    const r = await runMain(['instance', verb, 'nope'], env)
    t.same([r.code, r.stderr], [1, "No instance with a name or ID of 'nope' exists.\n"], `${verb}: name or id`)
  }
  const promote = await runMain(['instance', 'promote', 'src'], env)
  t.match(promote.stderr, /\(instance status was BUILD\)\. \(HTTP 422\)/, 'promote: the server says why')
  const eject = await runMain(['instance', 'eject', 'src'], env)
  t.match(eject.stderr, /\(instance status was BUILD\)\. \(HTTP 422\)/, 'eject too')
  const detach = await runMain(['instance', 'detach', 'src'], env)
  t.match(detach.stderr, /\(instance status was BUILD\)\. \(HTTP 422\)/, 'detach too')
  const help = await runMain(['instance', 'promote', '--help'], env)
  t.match(help.stdout, /--wait/, 'promote --wait')
})

t.test('instance update/create --auto-failover: one line per refusal, on/off only', async (t) => {
  const lab = await startLab(t, { spawnAgents: false })
  const env = lab.env
  const made = await runMain(['instance', 'create', 'src', '--flavor', '1', '--size', '1', '--datastore', 'mariadb', '-f', 'value', '-c', 'id'], env)
  const id = made.stdout.trim()
  lab.server.lab.instances.setServerStatus(id, 'ACTIVE')
  lab.server.lab.instances.setTask(id, 'NONE')
  const bad = await runMain(['instance', 'update', 'src', '--auto-failover', 'maybe'], env)
  t.same([bad.code, bad.stderr.split('\n')[0]], [2, "argument --auto-failover: invalid choice: 'maybe' (choose from 'on', 'off')"], 'a bad value: usage error')
  const none = await runMain(['instance', 'update', 'src', '--auto-failover', 'on'], env)
  t.equal(none.code, 1)
  t.match(
    none.stderr,
    new RegExp(`^Instance ${id} has no replicas: automatic failover needs a replica source with one or more replicas\\. \\(HTTP 400\\)[^\\n]*\\n$`),
    'no replicas: the server refuses, one line',
  )
  const off = await runMain(['instance', 'update', 'src', '--auto-failover', 'off'], env)
  t.equal(off.code, 0, 'off on a source without replicas: accepted (a no-op)')
  const create = await runMain(['instance', 'create', 'x', '--flavor', '1', '--size', '1', '--datastore', 'mariadb', '--auto-failover', 'on'], env)
  t.match(create.stderr, /^Automatic failover needs replicas: [^\n]* \(HTTP 400\)[^\n]*\n$/, 'at create without --replica-of: one line')
  t.equal(create.code, 1)
})
