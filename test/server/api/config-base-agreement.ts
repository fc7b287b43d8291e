// What GET /instances/{id}/configuration shows equals what the engine's file holds as the
// agent writes it: for MariaDB, PostgreSQL and Redis, at flavors of 512 MB to 16 GB. The
// server answers from its database (the flavor's RAM, the instance's port); the agent
// renders from the bootstrap the server wrote for it. Either side drifting fails here.
import t from 'tap'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { apiLab } from '../../helpers/api.js'
import { until } from '../../helpers/scripted-agent.js'
import { fileSettings, shownSettings } from '../../helpers/engine-conf.js'
import { INSTANCE_FILES, type AgentBootstrap } from '../../../src/protocol/index.js'
import { instancePaths } from '../../../src/agent/preparation.js'
import { renderMariadbCnf } from '../../../src/agent/datastores/mariadb/config.js'
import { renderPostgresConf } from '../../../src/agent/datastores/postgresql/config.js'
import { renderRedisConf } from '../../../src/agent/datastores/redis/config.js'

/** The agent's file for this bootstrap, as its service writes it. */
function agentFile(b: AgentBootstrap): string {
  const paths = instancePaths(b.baseDir)
  const input = { paths, address: b.address, port: b.port, ramMb: b.flavor.ramMb }
  if (b.datastore.manager === 'postgresql') return renderPostgresConf(input)
  if (b.datastore.manager === 'redis') return renderRedisConf(input)
  return renderMariadbCnf({ ...input, runUser: b.runUser, serverId: b.serverId })
}

const RAM_MB = [512, 1024, 4096, 16384]

t.test('the instance configuration the API shows is the file the agent writes, per engine and flavor RAM', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false, rateLimits: [] })
  // The lab's flavors stop at 8 GB; a 16 GB one as an operator would add it (nova's flavors).
  lab.server.lab.db.prepare("INSERT INTO flavors (id, name, ram, vcpus, disk, ephemeral) VALUES ('16', 'm1.16g', 16384, 4, 160, 0)").run()
  const flavorOf = new Map([
    [512, '1'],
    [1024, '2'],
    [4096, '4'],
    [16384, '16'],
  ])
  const p = `/v1.0/${lab.demo.project}`
  for (const engine of ['mariadb', 'postgresql', 'redis']) {
    const memoryKey = { mariadb: 'innodb_buffer_pool_size', postgresql: 'shared_buffers', redis: 'maxmemory' }[engine]!
    const memoryValues = new Set<string | undefined>()
    for (const ram of RAM_MB) {
      const name = `${engine}-${ram}`
      const r = await lab.req('POST', `${p}/instances`, { body: { instance: { name, flavorRef: flavorOf.get(ram), volume: { size: 1 }, datastore: { type: engine } } } })
      t.equal(r.status, 200, `${name} created${r.status === 200 ? '' : `: ${JSON.stringify(r.body)}`}`)
      const id = r.body.instance.id as string
      const bootFile = join(lab.dataDir, 'instances', id, INSTANCE_FILES.bootstrap)
      await until(() => existsSync(bootFile), 10_000, `${name}: bootstrap written`)
      const boot = JSON.parse(readFileSync(bootFile, 'utf8')) as AgentBootstrap
      t.equal(boot.flavor.ramMb, ram, `${name}: the agent is told its flavor's RAM`)

      const shown = (await lab.req('GET', `${p}/instances/${id}/configuration`)).body.instance.configuration as Record<string, unknown>
      const apiView = shownSettings(engine, shown)
      const fileView = fileSettings(engine, agentFile(boot))
      t.same(apiView, fileView, `${name}: API view = the agent's file`)
      t.ok(Object.keys(apiView).length > 8, `${name}: the comparison covers the base settings (${Object.keys(apiView).length})`)
      memoryValues.add(fileView[memoryKey])
    }
    // The RAM-derived values differ between sizes: the comparison is not of constants.
    t.equal(memoryValues.size, RAM_MB.length, `${engine}: ${memoryKey} follows the RAM (${[...memoryValues].join(', ')})`)
  }
})
