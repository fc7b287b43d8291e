// --wait end to end: the real CLI against a real `trove server` with its real agents and Redis
// learns of ACTIVE (create) and of the instance's end (delete) through the long poll of
// GET /instances/{id}?wait_for_change (README "API notes"), not by polling.
import t from 'tap'
import { readdirSync, readFileSync, readlinkSync } from 'node:fs'
import { join } from 'node:path'
import { runCli, startServerProcess, tempDir } from '../helpers/lab.js'
import { until } from '../helpers/scripted-agent.js'
import { detectEngines } from '../../src/server/compute/engines.js'

const redis = (await detectEngines()).find((e) => e.manager === 'redis')

/** Pids of the standby agents a lab's server keeps (compute/standby.ts): `agent --standby`, working in the lab's dir. */
function standbyAgents(labDir: string): number[] {
  return readdirSync('/proc')
    .filter((n) => /^\d+$/.test(n))
    .map(Number)
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('agent\0--standby\0') && readlinkSync(`/proc/${pid}/cwd`) === labDir
      } catch {
        return false
      }
    })
}

t.test('trove instance create --wait and delete --wait use the long poll', { skip: redis ? false : 'redis-server is not installed' }, async (t) => {
  const dir = tempDir(t, 'tw')
  // The standby agent checked below is the `none` compute's (a sandboxed lab keeps a warm sandbox instead:
  // test/e2e/sandbox-warm.ts), so this lab is `none` whatever TROVE_ISOLATION says.
  const server = await startServerProcess(t, join(dir, 'lab'), ['--isolation', 'none'])
  t.teardown(() => server.stop())
  const env = server.env
  const labDir = join(dir, 'lab')
  await until(() => standbyAgents(labDir).length === 1, 30_000, 'the server keeps one agent started ahead of the next create')
  const [standby] = standbyAgents(labDir)

  const created = await runCli(['instance', 'create', 'waited', '--flavor', 'm1.tiny', '--size', '1', '--datastore', 'redis', '--wait', '--debug', '-f', 'json'], env)
  t.equal(created.code, 0, 'create --wait exits 0', { stderr: created.stderr.slice(-3000) })
  const { status, id } = JSON.parse(created.stdout) as { status: string; id: string }
  t.equal(status, 'ACTIVE', 'create --wait ends with the instance ACTIVE')
  const requests = created.stderr.split('\n').filter((l) => l.startsWith(`REQ: GET `) && l.includes(`/instances/${id}`))
  t.ok(requests.length >= 1, `${requests.length} GETs of the instance`)
  // The create's answer offers the long poll (x-trove-wait-for-change) and is the BUILD it waits from: no plain GET first.
  t.ok(
    requests.every((l) => /\?wait_for_change=BUILD&wait_timeout=[\d.]+$/.test(l)),
    'only long polls from BUILD, the first one right after the create',
  )
  t.ok(requests.length <= 2, 'a change answers a poll: no polling loop (one poll per status change, BUILD -> ACTIVE)')

  // The standby became the instance's agent, as a spawned agent would look to every check.
  const instDir = join(labDir, 'instances', id)
  t.equal(Number(readFileSync(join(instDir, 'agent.pid'), 'utf8')), standby, 'the agent that runs the instance is the standby the server had started')
  t.match(readFileSync(`/proc/${standby}/cmdline`, 'utf8'), ` agent --config ${instDir}/agent.json`, 'its command line names the bootstrap, like a spawned agent')
  t.equal(readlinkSync(`/proc/${standby}/cwd`), instDir, "it works in the instance's directory")
  const agentLog = readFileSync(join(instDir, 'agent.log'), 'utf8')
  t.match(agentLog, `agent ${standby} starting for instance ${id}`, "its log is the instance's agent.log")
  // The broker's TLS handshake runs once the engine is starting, not before (supervisor.quiet).
  const at = (re: RegExp) => agentLog.split('\n').findIndex((l) => re.test(l))
  t.ok(at(/ started redis, pid /) >= 0 && at(/ started redis, pid /) < at(/ connected to the broker/), 'the engine was started before the agent connected to the broker')
  await until(() => standbyAgents(labDir).filter((p) => p !== standby).length === 1, 30_000, 'a new standby agent for the next create')
  const next = standbyAgents(labDir).find((p) => p !== standby)!

  const deleted = await runCli(['instance', 'delete', id, '--yes', '--wait', '--debug'], env)
  t.equal(deleted.code, 0, 'delete --wait exits 0', { stderr: deleted.stderr.slice(-3000) })
  const polls = deleted.stderr.split('\n').filter((l) => l.startsWith('REQ: GET ') && l.includes('wait_for_change='))
  t.ok(polls.length >= 1 && polls.length <= 3, `delete --wait: ${polls.length} long poll(s) until the instance is gone`)
  t.match(deleted.stderr, /RESP: \[404\]/, 'the wait ends at the 404 of the deleted instance')
  const list = await runCli(['instance', 'list', '-f', 'value', '-c', 'ID'], env)
  t.equal(list.stdout, '', 'no instance left')
  t.ok(standbyAgents(labDir).includes(next), 'the standby agent waits on')
  await server.stop()
  await until(() => standbyAgents(labDir).length === 0, 30_000, 'the stopped server leaves no standby agent behind')
  // Killed, the server cannot stop it: the standby's stdin ends with the server, and it exits.
  const again = await startServerProcess(t, labDir, ['--isolation', 'none'])
  await until(() => standbyAgents(labDir).length === 1, 30_000, 'the restarted server has its standby agent')
  again.child.kill('SIGKILL')
  await until(() => standbyAgents(labDir).length === 0, 30_000, 'a standby agent ends with a server killed -9')
})
