// Sandbox templates kept in a dir that labs share (ServerOptions.sandboxTemplatesDir, compute/sandbox-template.ts):
// labs that need one at once each build it in a sandbox of their own and one copy is published; a lab started
// later takes it at its first create without a build; a dir that others could write is refused.
import t from 'tap'
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync } from 'node:fs'
import { basename, join } from 'node:path'
import { INSTANCE_FILES } from '../../src/protocol/index.js'
import type { LaunchSpec } from '../../src/server/compute/compute.js'
import { removeSandboxLab } from '../../src/server/compute/sandbox-lab.js'
import type { SandboxedCompute } from '../../src/server/compute/sandboxed.js'
import { type InProcessLab, startLab, tempDir, serverModule } from '../helpers/lab.js'
import { sandboxLacking } from '../helpers/sandbox-host.js'

const why = sandboxLacking(['mariadb'])
if (why) t.plan(0, why)

/** What a MariaDB create asks of the compute driver (only the datastore shapes the template). */
function mariadbLaunch(lab: InProcessLab): LaunchSpec {
  const engine = lab.server.lab.engines.find((e) => e.manager === 'mariadb')!
  return {
    instanceId: 'not-an-instance',
    datastore: { manager: 'mariadb', version: engine.name },
    brokerFile: '',
    mqtt: { username: '', password: '' },
    address: '127.0.0.1',
    port: 3306,
    flavor: { ramMb: 512, vcpus: 1 },
    volumeSize: 1,
    runUser: 'trove',
    serverId: 1,
    heartbeatMs: 1000,
    prepare: { databases: [], users: [] },
  }
}

t.test('labs sharing a sandbox template dir: one template published, a later lab takes it at once', async (t) => {
  const shared = join(tempDir(t, 'tst'), 'shared')
  const sandboxLab = async () => {
    const lab = await startLab(t, { isolation: 'sandbox', reconcileMs: 0, sandboxTemplatesDir: shared })
    const c = lab.server.lab.compute as SandboxedCompute
    t.teardown(() => removeSandboxLab(c))
    return { lab, c }
  }
  const a = await sandboxLab()
  const b = await sandboxLab()
  t.equal(statSync(shared).mode & 0o777, 0o700, 'the shared dir is made 0700')
  t.equal(statSync(shared).uid, 0, "and is root's")
  const boot = mariadbLaunch(a.lab)

  // Both labs need it before either has it: each builds one, in a sandbox of its own.
  t.equal(a.c.templates.take(boot), undefined, 'lab A has none yet (its build starts)')
  t.equal(b.c.templates.take(boot), undefined, 'lab B has none yet (its build starts too)')
  await Promise.all([a.c.templates.settled(), b.c.templates.settled()])
  const path = a.c.templates.take(boot)
  t.ok(path, 'lab A takes the template')
  t.equal(b.c.templates.take(boot), path, 'lab B takes the same one')
  t.same(readdirSync(shared), [basename(path!)], 'one template in the dir, no builder leftovers')
  t.match(basename(path!), /^mariadb-[\w.]+-[0-9a-f]{12}$/, 'named by engine, version and the fingerprint of what makes it')
  const info = JSON.parse(readFileSync(join(path!, 'template.json'), 'utf8')) as { ingredients: { manager: string } }
  t.equal(info.ingredients.manager, 'mariadb', "the agent's template (template.json)")
  t.equal(statSync(path!).uid, 0, "root's from then on")
  const logs = [...a.lab.logs, ...b.lab.logs]
  t.equal(logs.filter((l) => /sandbox template mariadb-\S+ made in/.test(l)).length, 1, 'one lab published it')
  t.equal(logs.filter((l) => /another lab published it first; using theirs/.test(l)).length, 1, "the other dropped its copy and uses the first's")

  // A lab started later (another test file, a restart) keeps the dir and takes the template at its first create
  // (built, not started: what is asked of it needs no network, broker or HTTP).
  const { buildServer } = await serverModule()
  const later = await buildServer({ dataDir: join(tempDir(t, 'tsl'), 'lab'), host: '127.0.0.1', port: 0, isolation: 'sandbox', reconcileMs: 0, sandboxTemplatesDir: shared, log: () => {} })
  t.teardown(() => later.close())
  const c = { c: later.lab.compute as SandboxedCompute }
  t.equal(c.c.templates.take(boot), path, 'a later lab takes it with no build')
  t.same(readdirSync(shared), [basename(path!)], 'its start kept the dir as it was')

  // A template removed while a create copies it (the shared dir's owner removed the dir): the create goes on
  // without it (the agent initialises), nothing of the copy left in the volume.
  const volume = tempDir(t, 'tsv')
  t.equal(await c.c.templates.copyInto(join(shared, 'gone'), volume, 0, 0), false, 'a template gone: no copy')
  t.notOk(existsSync(join(volume, INSTANCE_FILES.dataDir)), 'and no data dir left in the volume')
  t.equal(await c.c.templates.copyInto(path!, volume, 0, 0), true, 'the template there: copied')
  t.ok(existsSync(join(volume, INSTANCE_FILES.dataDir, 'template.json')), 'into the data dir')
})

t.test('a shared sandbox template dir that others could write is refused', async (t) => {
  const open = join(tempDir(t, 'tso'), 'open')
  mkdirSync(open)
  chmodSync(open, 0o755)
  await t.rejects(startLab(t, { isolation: 'sandbox', reconcileMs: 0, sandboxTemplatesDir: open }), /sandbox templates dir .*: must be a directory of this user's, mode 0700/)
})
