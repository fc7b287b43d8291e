import t from 'tap'
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs'
import { createServer, type Server } from 'node:net'
import { join } from 'node:path'
import { processesUnder, isAlive } from '../../src/server/compute/processes.js'
import { CLAIM_DIR } from '../../src/server/compute/addresses.js'
import { cleanEnv, labEnv, runCli, tempDir } from '../helpers/lab.js'
import { labProcesses } from '../helpers/guest.js'

/** The lab as a local service, through the real CLI: start, status, logs, stop, start again, reset. */

const claimsUnder = (dir: string) => {
  try {
    return readdirSync(CLAIM_DIR).filter((a) => {
      try {
        return readFileSync(join(CLAIM_DIR, a), 'utf8').startsWith(`${dir}/`)
      } catch {
        return false
      }
    })
  } catch {
    return []
  }
}
const groupsOf = (id: string) =>
  ['memory', 'cpu'].flatMap((c) => {
    const found: string[] = []
    const walk = (d: string, depth: number) => {
      let es
      try {
        es = readdirSync(d, { withFileTypes: true })
      } catch {
        return
      }
      for (const e of es)
        if (e.isDirectory()) {
          if (e.name === `trove-${id}`) found.push(join(d, e.name))
          else if (depth < 6) walk(join(d, e.name), depth + 1)
        }
    }
    walk(join('/sys/fs/cgroup', c), 0)
    return found
  })

t.test('start in the background, status, a second lab refused, stop, start again, reset leaves nothing', async (t) => {
  if (process.getuid?.() !== 0) {
    t.plan(0, 'needs root and the troveguest user (scripts/setup.sh)')
    return
  }
  const dir = tempDir(t, 'ls')
  const lab = join(dir, 'lab')
  const env = cleanEnv({ HOME: dir, TROVE_DATA_DIR: lab })

  // A taken explicit port: one line, and nothing created.
  const blocker: Server = await new Promise((r) => {
    const s = createServer()
    s.listen(0, '127.0.0.1', () => r(s))
  })
  const taken = (blocker.address() as { port: number }).port
  let r = await runCli(['server', 'start', '--port', String(taken)], env)
  blocker.close()
  t.equal(r.code, 1)
  t.equal(r.stderr.split('\n')[0], `port ${taken} on 127.0.0.1 is in use`)
  t.notOk(existsSync(lab), 'nothing half-started: no data dir')

  r = await runCli(['server', 'start', '--port', '0'], env)
  t.equal(r.code, 0, r.stderr)
  const url = /listening on (http:\/\/\S+)/.exec(r.stdout)![1]
  t.match(r.stdout, `export OS_CLIENT_CONFIG_FILE=${lab}/clouds.yaml OS_CLOUD=trove-lab`)
  const pid = JSON.parse(readFileSync(join(lab, 'server.json'), 'utf8')).pid as number
  t.ok(isAlive(pid), 'the server runs detached')

  r = await runCli(['server', 'status'], env)
  t.equal(r.code, 0)
  t.match(r.stdout, `trove lab server running (pid ${pid})`)
  t.match(r.stdout, url)

  // A second lab on the same data dir, in the background or the foreground: one line, exit 1.
  for (const args of [
    ['server', 'start'],
    ['server', '--port', '0'],
  ]) {
    r = await runCli(args, env)
    t.equal(r.code, 1, args.join(' '))
    t.equal(r.stderr.split('\n')[0], `a lab server (pid ${pid}) already runs on data dir ${lab}`)
  }

  const cli = { ...labEnv(join(lab, 'clouds.yaml')), HOME: dir }
  r = await runCli(['instance', 'create', 'svc1', '--flavor', 'm1.tiny', '--size', '1', '--datastore', 'redis', '--wait', '-f', 'value', '-c', 'id'], cli)
  t.equal(r.code, 0, r.stderr)
  const id = r.stdout.trim().split('\n').at(-1)!
  // A loopback address is claimed under CLAIM_DIR; a sandbox's (TROVE_ISOLATION=sandbox) is on the lab's bridge, in its record.
  const sandboxRecord = join(lab, 'instances', id, 'sandbox.json')
  const sandboxed = existsSync(sandboxRecord)
  const address = sandboxed ? (JSON.parse(readFileSync(sandboxRecord, 'utf8')) as { address?: string }).address : claimsUnder(lab)[0]
  t.ok(address, 'the instance holds an address')

  r = await runCli(['server', 'logs', '-n', '50'], env)
  t.equal(r.code, 0)
  t.match(r.stdout, 'trove lab server listening on')

  r = await runCli(['server', 'stop'], env)
  t.same([r.code, r.stdout], [0, `trove lab server (pid ${pid}) stopped\n`])
  t.notOk(isAlive(pid))
  t.ok(labProcesses(lab).length >= 2, 'instances keep running when the server stops')
  r = await runCli(['server', 'status'], env)
  t.same([r.code, r.stderr.split('\n')[0]], [1, `trove lab server: not running (data dir ${lab})`])

  r = await runCli(['server', 'start'], env)
  t.equal(r.code, 0, r.stderr)
  t.match(r.stdout, `listening on ${url}`, 'the next start listens where the last one did')
  r = await runCli(['instance', 'show', 'svc1', '-f', 'value', '-c', 'status'], cli)
  t.equal(r.stdout.trim(), 'ACTIVE')

  r = await runCli(['server', 'reset'], env)
  t.same([r.code, r.stderr], [2, `trove server reset removes every instance and all data of ${lab}: add --yes\n`], 'off a terminal reset needs --yes')
  r = await runCli(['server', 'reset', '--yes'], env)
  t.equal(r.code, 0, r.stderr)
  if (sandboxed) {
    // Sandboxed (TROVE_ISOLATION=sandbox): no process of the host's view or address claim; the sandboxes say it (the instance's and the warm one).
    t.match(r.stdout, /^removed the lab at .*: server \(pid \d+\) stopped, 1 instance\(s\), \d+ process\(es\), 0 address claim\(s\), \d+ cgroup\(s\), [12] sandbox\(es\)\n$/)
  } else t.match(r.stdout, /^removed the lab at .*: server \(pid \d+\) stopped, 1 instance\(s\), [2-9] process\(es\), 1 address claim\(s\)/)
  t.notOk(existsSync(lab), 'no file')
  t.same(processesUnder(dir), [], 'no process')
  t.same(claimsUnder(lab), [], 'no address')
  t.same(groupsOf(id), [], 'no cgroup')
  r = await runCli(['server', 'reset', '--yes'], env)
  t.same([r.code, r.stdout], [0, `no lab at ${lab}: nothing to remove\n`])
})

t.test('a checkout that is not built says what to do in one line', async (t) => {
  const dir = tempDir(t, 'nb')
  mkdirSync(join(dir, 'bin'))
  copyFileSync(join(import.meta.dirname, '../../bin/trove'), join(dir, 'bin/trove'))
  copyFileSync(join(import.meta.dirname, '../../package.json'), join(dir, 'package.json'))
  const { spawnSync } = await import('node:child_process')
  // env -u: tap injects its loaders into children through NODE_OPTIONS (see troveCommand)
  const r = spawnSync('/usr/bin/env', ['-u', 'NODE_OPTIONS', process.execPath, join(dir, 'bin/trove'), 'instance', 'list'], { encoding: 'utf8', env: cleanEnv() })
  t.equal(r.status, 1)
  t.match(r.stderr, /^trove: this checkout is not set up \(.*dist\/cli\/main\.js.*\): run bash scripts\/setup\.sh \(as root\), or npm ci && npm run build\n$/)
})
