// Modules applied by a real guest (Redis, the fastest engine) through our CLI's module commands.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { runCli, startServerProcess, tempDir } from '../helpers/lab.js'
import { guestDir } from '../helpers/guest.js'

t.test('trove module create/apply/query/list-instance/retrieve/remove against a real guest', async (t) => {
  const dir = tempDir(t, 'tg')
  const server = await startServerProcess(t, join(dir, 'lab'))
  const env = { ...server.env, HOME: dir }
  const cli = async (args: string[]) => {
    const r = await runCli(args, env)
    t.equal(r.code, 0, `trove ${args.join(' ')} (${r.stderr.trim().split('\n').pop()})`)
    return r.stdout
  }
  const json = async (args: string[]) => JSON.parse(await cli([...args, '-f', 'json']))

  writeFileSync(join(dir, 'ping.dat'), 'message=Hello from the ping module\n')
  writeFileSync(join(dir, 'broken.dat'), 'no message here\n')
  const ping = await json(['module', 'create', 'ping1', 'ping', join(dir, 'ping.dat'), '--datastore', 'redis', '--description', 'e2e ping'])
  t.match(ping, { name: 'ping1', type: 'ping', datastore: 'redis', datastore_version: 'all', description: 'e2e ping', apply_order: 5 })
  await json(['module', 'create', 'broken1', 'ping', join(dir, 'broken.dat')])
  t.same(
    (await json(['module', 'list'])).map((m: { Name: string }) => m.Name),
    ['ping1', 'broken1'],
    'module list',
  )

  // One module at create (applied once the guest is up), one applied later.
  const created = await json(['instance', 'create', 'mg1', '--flavor', 'm1.tiny', '--size', '1', '--datastore', 'redis', '--wait', '--timeout', '120'])
  const id = created.id as string
  const applied = await json(['module', 'apply', 'mg1', 'ping1', 'broken1'])
  t.same(
    applied.map((m: Record<string, unknown>) => [m.Name, m.Status, m.Message]).sort(),
    [
      ['broken1', 'ERROR', 'Message not found in contents file'],
      ['ping1', 'OK', 'Hello from the ping module'],
    ],
    'module apply: the guest results',
  )

  const query = await json(['module', 'query', 'mg1'])
  t.same(
    query.map((m: Record<string, unknown>) => [m.Name, m.Status, m.Datastore]).sort(),
    [
      ['broken1', 'ERROR', 'all'],
      ['ping1', 'OK', 'redis'],
    ],
    'module query (from the guest)',
  )
  t.same((await json(['module', 'list-instance', 'mg1'])).map((m: { Name: string }) => m.Name).sort(), ['broken1', 'ping1'], 'module list-instance (server record)')
  t.same(
    (await json(['module', 'instances', 'ping1'])).map((i: { ID: string }) => i.ID),
    [id],
    'module instances',
  )
  t.match(await json(['module', 'instance-count', 'ping1']), [{ 'Module Name': 'ping1', Current: true, Count: 1 }], 'module instance-count')

  // On the guest: BASE/modules/<type>/<id>/{contents.dat,result.json}, 0700 dirs and 0600 files.
  const mdir = join(guestDir(server.dataDir, id), 'modules', 'ping', ping.id)
  t.equal(readFileSync(join(mdir, 'contents.dat'), 'utf8'), 'message=Hello from the ping module\n', 'contents kept decoded')
  t.equal(statSync(mdir).mode & 0o777, 0o700)
  t.equal(statSync(join(mdir, 'contents.dat')).mode & 0o777, 0o600)
  t.equal(statSync(join(mdir, 'result.json')).mode & 0o777, 0o600)
  t.match(JSON.parse(readFileSync(join(mdir, 'result.json'), 'utf8')), { id: ping.id, status: 'OK', removed: null })

  const out = await cli(['module', 'retrieve', 'mg1', '--directory', dir, '--prefix', 'x'])
  t.match(out, /Module contents for 'ping1' written to/)
  t.equal(readFileSync(join(dir, 'x_ping1_redis_all.dat'), 'utf8'), 'message=Hello from the ping module\n', 'module retrieve writes the decoded contents')

  const del = await runCli(['module', 'delete', 'ping1'], env)
  t.equal(del.code, 1, 'an applied module cannot be deleted')
  await cli(['module', 'remove', 'mg1', 'ping1'])
  t.same(
    (await json(['module', 'query', 'mg1'])).map((m: { Name: string }) => m.Name),
    ['broken1'],
    'removed: the guest no longer lists it',
  )
  t.match(JSON.parse(readFileSync(join(mdir, 'result.json'), 'utf8')), { removed: /^\d{4}-/ }, 'result.json marked removed')
  await cli(['module', 'delete', 'ping1'])

  // Create with a module (the real openstack client's --module): applied by the create flow.
  await cli(['module', 'remove', 'mg1', 'broken1'])
  const m2 = await json(['module', 'update', 'broken1', '--file', join(dir, 'ping.dat'), '--name', 'fixed1'])
  t.match(m2, { name: 'fixed1' }, 'module update (no longer applied)')
  const os = spawnSync('openstack', ['database', 'instance', 'create', 'mg2', '--flavor', 'm1.tiny', '--size', '1', '--datastore', 'redis', '--module', 'fixed1', '-f', 'json'], {
    env,
    encoding: 'utf8',
  })
  t.equal(os.status, 0, `openstack database instance create --module (${os.stderr})`)
  const id2 = JSON.parse(os.stdout).id as string
  for (let i = 0; i < 240 && (await json(['instance', 'show', id2])).status !== 'ACTIVE'; i++) await new Promise((r) => setTimeout(r, 500))
  t.match(await json(['module', 'query', 'mg2']), [{ Name: 'fixed1', Status: 'OK', Message: 'Hello from the ping module' }], 'the create-time module was applied by the guest')
})
