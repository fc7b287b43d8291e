// trove instance resize/restart/upgrade/update/reset status/force delete/reboot/rebuild and
// configuration attach/detach/default: argument errors, requests, --wait; an in-process lab
// with a scripted agent (no engines: test/e2e/resize.ts and access.ts use real ones).
import t from 'tap'
import { runMain, startLab } from '../helpers/lab.js'
import { scriptedAgent, until } from '../helpers/scripted-agent.js'

t.test('instance actions and configuration attach/detach/default through the CLI', async (t) => {
  const lab = await startLab(t, { spawnAgents: false })
  const env = lab.env
  const admin = { ...env, OS_CLOUD: 'trove-lab-admin' }
  const run = (args: string[], e = env) => runMain(args, e)

  // Argument errors: before any request.
  let r = await run(['instance', 'resize', 'volume', 'x', 'big'])
  t.same([r.code, r.stderr.trim().split('\n').pop()], [2, "argument size: invalid int value: 'big'"], 'resize volume: size must be an int (usage error)')
  r = await run(['instance', 'resize', 'flavor', 'x'])
  t.equal(r.code, 2, 'resize flavor: missing <flavor>')
  r = await run(['instance', 'upgrade', 'x'])
  t.equal(r.code, 2, 'upgrade: missing <datastore_version>')
  r = await run(['instance', 'update', 'x', '--is-public', '--is-private'])
  t.same([r.code, r.stderr.trim().split('\n').pop()], [2, 'argument --is-private: not allowed with argument --is-public'])
  r = await run(['instance', 'update', 'x', '--configuration', 'c', '--remove-configuration'])
  t.same([r.code, r.stderr], [1, 'Cannot attach and detach configuration simultaneously.\n'])
  r = await run(['instance', 'restart', 'ghost'])
  t.same([r.code, r.stderr], [1, "No instance with a name or ID of 'ghost' exists.\n"])
  r = await run(['configuration', 'attach', 'ghost', 'cfg'])
  t.same([r.code, r.stderr], [1, "No instance with a name or ID of 'ghost' exists.\n"])

  // An ACTIVE instance driven by a scripted agent.
  r = await run(['instance', 'create', 'cli-act', '--flavor', 'm1.tiny', '--size', '1', '--datastore', 'postgresql', '-f', 'value', '-c', 'id'])
  t.equal(r.code, 0, r.stderr)
  const id = r.stdout.trim()
  const agent = await scriptedAgent(lab.dataDir, id)
  t.teardown(() => agent.close())
  await agent.heartbeat('HEALTHY')
  const show = () => lab.server.lab.instances.get(id)!
  const configurationId = () => lab.server.lab.db.prepare('SELECT configuration_id FROM instances WHERE id = ?').pluck().get(id)
  await until(() => show().server_status === 'ACTIVE' && show().task_id === 1, 5000, 'ACTIVE')

  r = await run(['instance', 'resize', 'flavor', 'cli-act', 'm1.small', '--wait', '--timeout', '20'])
  t.same([r.code, r.stdout], [0, ''], `resize flavor --wait (${r.stderr.trim()})`)
  t.equal(show().flavor_id, '2', 'flavor 2')
  t.ok(agent.calls.includes('start_db_with_conf_changes'), 'the guest was asked')
  r = await run(['instance', 'resize', 'flavor', id, '2'])
  t.equal(r.code, 1)
  t.match(r.stderr, /^The new flavor id must be different than the current flavor id of '2'\. \(HTTP 400\)/, 'same flavor: the API fault')
  r = await run(['instance', 'resize', 'volume', 'cli-act', '3', '--wait', '--timeout', '20'])
  t.equal(r.code, 0, `resize volume --wait (${r.stderr.trim()})`)
  t.equal(show().volume_size, 3)
  r = await run(['instance', 'resize', 'volume', 'cli-act', '99'])
  t.match(r, { code: 1, stderr: /Volume 'size' cannot exceed maximum of 10 GB, 99 cannot be accepted\. \(HTTP 413\)/ })

  r = await run(['instance', 'restart', 'cli-act', '--wait', '--timeout', '20'])
  t.equal(r.code, 0, `restart --wait (${r.stderr.trim()})`)
  await agent.called('restart')
  await agent.heartbeat('HEALTHY') // a real guest reports after its restart

  r = await run(['instance', 'upgrade', 'cli-act', 'nope'])
  t.match(r, { code: 1, stderr: /Datastore version 'nope' cannot be found\. \(HTTP 400\)/ })

  r = await run(['instance', 'update', 'cli-act', '--name', 'cli-act2'])
  t.equal(r.code, 0, r.stderr)
  t.equal(show().name, 'cli-act2', 'renamed')
  r = await run(['instance', 'update', 'cli-act2', '--is-public', '--allowed-cidr', '10.0.0.0/8', '--allowed-cidr', '127.0.0.1/32'])
  t.equal(r.code, 0, r.stderr)
  t.same(JSON.parse(show().access!), { is_public: true, allowed_cidrs: ['10.0.0.0/8', '127.0.0.1/32'] }, 'access stored')
  await agent.called('update_access')
  await until(() => show().task_id === 1, 5000, 'task NONE')
  r = await run(['instance', 'update', 'cli-act2', '--allowed-cidr', '10.0.0.0/33'])
  t.match(r, { code: 1, stderr: /is not a 'cidr'/ }, 'bad CIDR: the API fault')

  // configuration default / attach / detach
  r = await run(['configuration', 'default', 'cli-act2', '-f', 'json'])
  t.equal(r.code, 0, r.stderr)
  t.equal(JSON.parse(r.stdout).shared_buffers, '102MB', 'configuration default: rendered for m1.small')
  const version = show().dsv_name!
  r = await run(['configuration', 'create', 'cfg1', '{"max_connections": 150}', '--datastore', 'postgresql', '--datastore-version', version, '-f', 'value', '-c', 'id'])
  t.equal(r.code, 0, r.stderr)
  r = await run(['configuration', 'attach', 'cli-act2', 'cfg1', '--wait', '--timeout', '20'])
  t.equal(r.code, 0, `attach --wait (${r.stderr.trim()})`)
  t.ok(configurationId(), 'attached')
  r = await run(['configuration', 'attach', 'cli-act2', 'cfg1'])
  t.equal(r.code, 1, 'attaching twice: the API refuses')
  r = await run(['instance', 'reset', 'status', 'cli-act2'])
  t.match(r, { code: 1, stderr: /\(HTTP 403\)/ }, 'reset status: admins only')
  r = await run(['instance', 'restart', id, '--wait', '--timeout', '20'])
  t.equal(r.code, 0, 'restart (postgres max_connections needs one)')
  await agent.heartbeat('HEALTHY')
  r = await run(['configuration', 'detach', 'cli-act2', '--wait', '--timeout', '20'])
  t.equal(r.code, 0, `detach --wait (${r.stderr.trim()})`)
  t.equal(configurationId(), null, 'detached')

  // admin actions
  r = await run(['instance', 'rebuild', id, '0b2ba3b4-7e27-4d39-a46d-0d5c5f8e5a8e'], admin)
  t.same([r.code, r.stderr.split('\n').length], [1, 2], 'rebuild: one line')
  t.match(r.stderr, /not possible in this lab.*\(HTTP 501\)/)
  r = await run(['instance', 'reboot', id])
  t.match(r, { code: 1, stderr: /\(HTTP 401\)/ }, 'reboot: admins only')
  r = await run(['instance', 'reset', 'status', id], admin)
  t.same([r.code, r.stdout], [0, ''], 'reset status as admin')
  t.equal(show().status_description, 'unknown')

  // As upstream's client: {"reset_status": {}} (admins only), then DELETE.
  r = await run(['instance', 'force', 'delete', 'cli-act2'])
  t.match(r, { code: 1, stderr: /instance:reset_status.*\(HTTP 403\)/ }, 'force delete: the reset needs an admin')
  r = await run(['instance', 'force', 'delete', id, '--wait', '--timeout', '20'], admin)
  t.equal(r.code, 0, `force delete as admin (${r.stderr.trim()})`)
  t.equal(lab.server.lab.instances.get(id), undefined, 'gone')
})
