// Configuration values the engine would refuse, against real Redis and PostgreSQL through the
// real server and CLI: refused up front, or (when only the engine knows) refused by the engine
// and undone, the group unchanged, the instance on its old values and able to restart (issue 11).
import t, { type Test } from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { labClient, runCli, startServerProcess, tempDir } from '../helpers/lab.js'
import { guestDir } from '../helpers/guest.js'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

t.test('bad configuration values against real engines: refused, nothing half-applied, the instance restarts', async (t) => {
  const dir = tempDir(t, 'tcg')
  const dataDir = join(dir, 'lab')
  const server = await startServerProcess(t, dataDir)
  const client = labClient(server.cloudsFile, { maxRetries: 0, timeoutMs: 120_000 })
  const trove = (...args: string[]) => runCli(args, server.env)
  const waitStatus = async (id: string, want: string, ms = 120_000): Promise<string> => {
    const start = Date.now()
    let s = ''
    while (Date.now() - start < ms) {
      s = (await client.instances.get(id)).status
      if (s === want) break
      await sleep(300)
    }
    return s
  }
  const create = async (engine: string): Promise<string> => {
    const r = await trove('instance', 'create', `cg-${engine}`, '--flavor', 'm1.tiny', '--size', '1', '--datastore', engine, '--wait', '--timeout', '120', '-f', 'json')
    t.equal(r.code, 0, `${engine}: create --wait (${r.stderr.trim().split('\n').pop()})`)
    return JSON.parse(r.stdout).id as string
  }
  const overridesFile = (id: string) => readFileSync(join(guestDir(dataDir, id), 'conf', 'overrides.conf'), 'utf8')
  const refusal = async (p: Promise<unknown>): Promise<{ status?: number; message: string }> =>
    p.then(
      () => ({ message: 'accepted' }),
      (e: { status?: number; message: string }) => ({ status: e.status, message: e.message }),
    )

  async function guarded(t: Test, engine: string, good: Record<string, unknown>, upFront: Record<string, unknown>, engineRefuses: Record<string, unknown>, reason: RegExp): Promise<void> {
    const id = await create(engine)
    const cfg = await client.configurations.create({ name: `cfg-${engine}`, values: good, datastore: { type: engine } })
    await client.configurations.attach(id, cfg.id)
    t.equal(await waitStatus(id, 'ACTIVE'), 'ACTIVE', `${engine}: attached, ACTIVE`)
    const file = overridesFile(id)
    const shown = await client.configurations.get(cfg.id)

    // Refused up front: the CLI's one line, the API's 422; nothing written.
    const cli = await trove('configuration', 'set', cfg.id, JSON.stringify({ ...good, ...upFront }))
    t.equal(cli.code, 1, `${engine}: configuration set with ${JSON.stringify(upFront)} fails`)
    t.match(cli.stderr.trim(), /^.*is not valid: it contains .*\(HTTP 422\)/, `${engine}: one line naming the fault`)
    t.equal(cli.stderr.trim().split('\n').length, 1, 'one line')
    const patched = await refusal(client.configurations.edit(cfg.id, upFront))
    t.equal(patched.status, 422, `${engine}: PATCH with it: 422`)
    t.equal(overridesFile(id), file, `${engine}: the instance's file is untouched`)

    // Only the engine knows: it refuses, the change is undone and is the answer.
    const undone = await refusal(client.configurations.edit(cfg.id, engineRefuses))
    t.equal(undone.status, 400, `${engine}: PATCH with ${JSON.stringify(engineRefuses)} the engine refuses: 400`)
    t.match(undone.message, reason, `${engine}: the engine's reason is the answer`)
    t.match(undone.message, new RegExp(`instance ${id}, nothing was changed`))
    t.equal(overridesFile(id), file, `${engine}: the old file is back`)
    const after = await client.configurations.get(cfg.id)
    t.same(after.values, shown.values, `${engine}: the group's values are unchanged`)
    t.equal((await client.instances.get(id)).status, 'ACTIVE', `${engine}: the instance is ACTIVE`)

    // And it survives a restart (the file is one the engine takes).
    const pidFile = join(guestDir(dataDir, id), engine === 'redis' ? 'run/redis.pid' : 'data/postmaster.pid')
    const pid = () => readFileSync(pidFile, 'utf8').split('\n')[0]
    const pidBefore = pid()
    const restarted = await trove('instance', 'restart', id, '--wait', '--timeout', '120')
    t.equal(restarted.code, 0, `${engine}: restart --wait: ACTIVE again (${restarted.stderr.trim().split('\n').pop()})`)
    t.not(pid(), pidBefore, `${engine}: a new engine process runs`)
  }

  await t.test('redis', (t) =>
    guarded(t, 'redis', { 'notify-keyspace-events': 'Kx' }, { 'notify-keyspace-events': 'K"' }, { 'notify-keyspace-events': 'KQ' }, /Invalid event class character|notify-keyspace-events/),
  )
  await t.test('postgresql', (t) =>
    guarded(t, 'postgresql', { work_mem: '4MB' }, { search_path: 'public\\' }, { timezone: 'Nowhere/Bogus' }, /PostgreSQL refuses the configuration: invalid value for parameter "TimeZone"/),
  )
})
