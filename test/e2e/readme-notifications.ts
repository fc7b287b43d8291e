// README "Receiving notifications", literally: its shell lines (DIR replaced by a real lab's data
// dir, HOME a fresh one) with the mosquitto_sub and jq that scripts/setup.sh installs, over TLS
// with the lab's CA, until a real event of an instance create arrives.
import t from 'tap'
import { execFileSync, spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { cleanEnv, killEverythingUnder, ROOT, runCli, startServerProcess, tempDir } from '../helpers/lab.js'

const README = readFileSync(join(ROOT, 'README.md'), 'utf8')

/** The shell lines (no comments) of the ```sh block of the `### title` section. */
function sectionLines(title: string): string[] {
  const start = README.indexOf(`\n### ${title}\n`)
  if (start < 0) throw new Error(`README has no section '### ${title}'`)
  const block = /```sh\n([\s\S]*?)```/.exec(README.slice(start))
  return (block?.[1] ?? '')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
}

t.test('README: receiving notifications with mosquitto_sub over TLS', async (t) => {
  const setup = readFileSync(join(ROOT, 'scripts/setup.sh'), 'utf8')
  const lines = sectionLines('Receiving notifications')
  t.equal(lines.length, 2, 'two commands: write the options file, subscribe')
  for (const [tool, pkg] of [
    ['mosquitto_sub', 'mosquitto-clients'],
    ['jq', 'jq'],
  ]) {
    if (lines.some((l) => l.includes(tool))) t.match(setup, new RegExp(`^pkgs=\\(.* ${pkg}( |\\))`, 'm'), `setup installs ${pkg} (for ${tool})`)
  }
  const dir = tempDir(t, 'trn')
  const dataDir = join(dir, 'lab')
  const home = join(dir, 'home')
  const server = await startServerProcess(t, dataDir)
  t.teardown(() => killEverythingUnder(dataDir))
  const env = cleanEnv({ HOME: home })
  delete env.XDG_CONFIG_HOME
  const [configure, subscribe] = lines.map((l) => l.replaceAll('DIR', dataDir))

  execFileSync('bash', ['-euo', 'pipefail', '-c', configure!], { env, stdio: ['ignore', 'inherit', 'inherit'] })
  const options = readFileSync(join(home, '.config/mosquitto_sub'), 'utf8')
  t.match(options, /^--cafile .*\/tls\//m, 'the options file verifies the broker with the lab CA')

  const sub = spawn('bash', ['-c', subscribe!], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
  t.teardown(() => {
    try {
      process.kill(-sub.pid!, 'SIGTERM')
    } catch {
      /* gone */
    }
  })
  let out = ''
  let err = ''
  sub.stdout.on('data', (b) => (out += b))
  sub.stderr.on('data', (b) => (err += b))
  let exited = false
  sub.on('exit', () => (exited = true))

  // The subscriber says nothing when it is ready: configuration groups are created (each one an
  // event) until one arrives; from then on it is subscribed.
  for (let n = 0; !out && !exited; n++) await runCli(['configuration', 'create', `n${n}`, '{}', '--datastore', 'redis'], server.env)
  t.notOk(exited, `mosquitto_sub runs (${err.trim()})`)
  t.match(out, /^trove\/notify\/dbaas\.configuration_create\.(start|end) \{/m, 'a configuration event arrived')

  const made = await runCli(['instance', 'create', 'nt', '--flavor', 'm1.tiny', '--size', '1', '--datastore', 'redis', '-f', 'json'], server.env)
  t.equal(made.code, 0, made.stderr)
  type Body = { event_type: string; payload: { name?: string; tenant_id?: string } }
  const event = () =>
    out
      .split('\n')
      .filter((l) => l.startsWith('trove/notify/dbaas.instance_create.start '))
      .map((l) => JSON.parse(l.slice(l.indexOf(' ') + 1)) as Body)
      .find((b) => b.payload.name === 'nt')
  while (!event() && !exited)
    await new Promise((r) => {
      sub.stdout.once('data', r)
      sub.once('exit', r)
    })
  t.equal(event()?.event_type, 'dbaas.instance_create.start', 'the instance create event arrived, an oslo.messaging body')
})
