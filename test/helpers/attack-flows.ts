// The attack suite's flow, the same for every engine (test/e2e/attack-*.ts): two tenants' instances in one
// sandboxed lab; the attacker's shell probes, then links planted in its own volume and every API flow that
// touches it, a full volume, memory beyond the flavor, signals to every process; after each, the victim's
// data and the host's files are byte for byte what they were, and the attacker's instance recovers.
import type { Test } from 'tap'
import { execFileSync, spawnSync } from 'node:child_process'
import { chownSync, lstatSync, readdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Instance } from '../../src/sdk/index.js'
import { engineClient, writeRows } from './clients.js'
import {
  type AttackLab,
  attackLab,
  createActive,
  engineMainPids,
  enginePids,
  tail,
  hostFiles,
  hostFree,
  oomKills,
  runShellProbes,
  type Shell,
  shellProbes,
  VOL,
  volumeSums,
  waitWhile,
} from './attack.js'
import { netnsOf } from './sandbox-proc.js'

export interface EngineAttack {
  engine: 'postgresql' | 'mariadb' | 'redis'
  port: number
  /** The attacker's way to a shell as its instance's user, from its root login (`ip`, `password`). */
  shell(a: AttackLab, inst: Instance, password: string): Shell
  /** What the engine itself lets root do to files and code (before any shell), asserted by the engine's file. */
  engineProbes(t: Test, a: AttackLab, inst: Instance, password: string, victim: Instance): Promise<void>
  /** A configuration group's values the engine takes (attach). */
  configuration: Record<string, string | number>
  /** The engine's log to publish (its file inside the volume). */
  log: { name: string; file: string }
  /** A write by the attacker's root while its volume is full: the engine's error text ('' when it succeeded). */
  fullWrite(inst: Instance, password: string): string
  /** Victim files (relative to its volume) whose bytes never change while idle. */
  stableFiles: RegExp
}

/** Rows (keys) of the victim's data as its own login reads them: a count and a digest. */
function victimData(engine: string, ip: string, user: string, pw: string): string {
  return engine === 'redis'
    ? engineClient(engine, ip, user, pw, 'DBSIZE\nGET k7\n')
    : engineClient(engine, ip, user, pw, engine === 'mariadb' ? 'SELECT count(*), sum(v) FROM t;' : 'SELECT count(*), sum(v) FROM t;')
}

/** Whether the attacker's engine answers its root. */
function answers(engine: string, ip: string, root: string): boolean {
  try {
    engineClient(engine, ip, engine === 'redis' ? 'root' : 'u1', engine === 'redis' ? root : 'Pw-one-1', engine === 'redis' ? 'PING\n' : 'SELECT 1;')
    return true
  } catch {
    return false
  }
}

/** The tails of an instance's sandbox log, its engine's logs and its agent's log (through the agent's open descriptor when the name was replaced). */
function diagnose(a: AttackLab, id: string): string {
  const dir = a.c.instanceDir(id)
  const parts = [`sandbox.log: ${tail(join(dir, 'sandbox.log'), 1500)}`]
  // Plain files only: a planted link would be followed here, by root on the host.
  for (const f of readdirSync(join(dir, 'mnt', 'log'))) if (lstatSync(join(dir, 'mnt', 'log', f)).isFile()) parts.push(`${f}: ${tail(join(dir, 'mnt', 'log', f), 1500)}`)
  const agent = a.c.agentPid(id)
  if (agent)
    for (const fd of readdirSync(`/proc/${agent}/fd`)) {
      try {
        if (readlinkSync(`/proc/${agent}/fd/${fd}`).includes('agent.log')) parts.push(`agent.log: ${tail(`/proc/${agent}/fd/${fd}`, 3000)}`)
      } catch {
        /* closed meanwhile */
      }
    }
  return parts.join('\n')
}

export async function runAttack(t: Test, e: EngineAttack): Promise<void> {
  const a = await attackLab(t)
  const users = e.engine === 'redis' ? {} : { databases: [{ name: 'd1' }], users: [{ name: 'u1', password: 'Pw-one-1', databases: [{ name: 'd1' }] }] }
  const base = { flavorRef: '1', volume: { size: 1 }, datastore: { type: e.engine }, ...users }
  // The victim has no access rule of its own: by default only the host (its application server) gets in,
  // as a security group would let in no other tenant's VM.
  const [victim, mine] = await Promise.all([createActive(t, a, a.victim, { name: `victim-${e.engine}`, ...base }), createActive(t, a, a.attacker, { name: `attacker-${e.engine}`, ...base })])
  if (victim.status !== 'ACTIVE' || mine.status !== 'ACTIVE') return
  // The filter drops a refused SYN (the bridge family cannot reject): an engine's own client (a FEDERATED table,
  // MIGRATE) then waits out the kernel's SYN retries, ~2 minutes. One retry in the attacker's namespace makes
  // the same refusal fail in ~3 s; what passes and what does not is unchanged.
  execFileSync('ip', ['netns', 'exec', netnsOf(a.c, mine.id), 'sysctl', '-qw', 'net.ipv4.tcp_syn_retries=1'])
  const vip = victim.ip![0]!
  const ip = mine.ip![0]!
  const vroot = (await a.victim.root.enable(victim.id)).password
  const [vuser, vpw] = e.engine === 'redis' ? ['root', vroot] : ['u1', 'Pw-one-1']
  writeRows(e.engine, vip, vuser, vpw, 1, 50)
  if (e.engine === 'redis') engineClient(e.engine, vip, vuser, vpw, 'SAVE\n')
  // A file of the victim's own in its volume (its uid, 0600), and what the host holds.
  const vmnt = join(a.c.instanceDir(victim.id), 'mnt')
  const vuid = statSync(vmnt).uid
  writeFileSync(join(vmnt, 'victim.canary'), 'victim data\n', { mode: 0o600 })
  chownSync(join(vmnt, 'victim.canary'), vuid, vuid)
  const data0 = victimData(e.engine, vip, vuser, vpw)
  const files0 = volumeSums(a.c, victim.id, e.stableFiles)
  const host0 = hostFiles(a, victim.id)
  const victimEngine = engineMainPids(a.c, victim.id)
  t.ok(files0.size > 1, `victim files checksummed: ${[...files0.keys()].join(' ')}`)
  const unchanged = (t: Test, when: string) => {
    t.same(hostFiles(a, victim.id), host0, `${when}: the lab's secrets and the host's files are byte for byte unchanged`)
    t.same(volumeSums(a.c, victim.id, e.stableFiles), files0, `${when}: the victim's files are byte for byte unchanged`)
    t.equal(victimData(e.engine, vip, vuser, vpw), data0, `${when}: the victim's data reads the same through its own login`)
  }

  // The attacker: root on its own instance (a member may), then code as the engine's user.
  const root = (await a.attacker.root.enable(mine.id)).password
  await t.test(`${e.engine}: what root may do through the engine itself`, (t) => e.engineProbes(t, a, mine, root, victim))
  const shell = e.shell(a, mine, root)
  const me = await shell('id -u; hostname')
  t.equal(me.code, 0, `a shell as the engine's user (${me.out.replace(/\n/g, ' ').trim()})`)
  t.match(me.out, new RegExp(`^${statSync(join(a.c.instanceDir(mine.id), 'mnt')).uid}\\n`), "the shell runs as the instance's uid")

  await t.test(`${e.engine}: the shell reaches nothing of the victim or the host`, async (t) => {
    const apiPort = Number(new URL(a.lab.url).port)
    await runShellProbes(t, shell, shellProbes(a, { id: victim.id, ip: vip, port: e.port }, { ip, port: e.port }, apiPort))
    t.ok(execFileSync('bash', ['-c', `exec 3<>/dev/tcp/${vip}/${e.port}`]).length === 0, "the host (the victim's allowed address) reaches the victim's port: the filter is per source")
    unchanged(t, 'after the shell probes')
  })

  await t.test(`${e.engine}: links planted in its own volume, then every API flow that touches it`, async (t) => {
    const mnt = join(a.c.instanceDir(mine.id), 'mnt')
    // Pointing at the host's canary (a path that means something to whoever follows it outside the
    // sandbox), at the victim's volume, and at its own agent's credentials.
    const targets = [a.canary.path, join(vmnt, 'victim.canary'), `${VOL}/agent.json`]
    const plant = async (dir: string) => {
      const r = await shell(targets.map((x, i) => `ln -sfn ${x} ${dir}/attack-link-${i}`).join(' && '))
      t.equal(r.code, 0, `links planted in ${dir}${r.code ? `: ${r.out}` : ''}`)
    }
    for (const dir of ['data', 'conf', 'log', 'tmp']) await plant(`${VOL}/${dir}`)
    // The files the agent writes or reads next: the configuration's overrides and the published log.
    const overrides = e.engine === 'mariadb' ? 'conf/overrides.cnf' : 'conf/overrides.conf'
    const r = await shell(`ln -sfn ${a.canary.path} ${VOL}/${overrides} && ln -sfn ${a.canary.path} ${VOL}/${e.log.file}.attack && mv -f ${VOL}/${e.log.file}.attack ${VOL}/${e.log.file}`)
    t.equal(r.code, 0, `the overrides file and the ${e.log.name} log replaced by links to the host's canary${r.code ? `: ${r.out}` : ''}`)
    t.ok(lstatSync(join(mnt, overrides)).isSymbolicLink(), 'the link is there (seen from the host)')

    // configuration attach
    const group = await a.attacker.configurations.create({ name: `attack-${e.engine}`, values: e.configuration, datastore: { type: e.engine } })
    await a.attacker.configurations.attach(mine.id, group.id).catch((err: Error) => t.comment(`attach: ${err.message}`))
    const attached = await waitWhile(a.attacker, mine.id, 'BUILD', 'REBOOT')
    t.comment(`after the attach: ${attached.status}`)
    unchanged(t, 'configuration attach')

    // log publish (an admin's action on SYS logs)
    const pub = await a.admin.logs.action(mine.id, e.log.name, { publish: true }).catch((err: Error) => err)
    t.comment(`log publish: ${pub instanceof Error ? pub.message : `${pub.published} bytes`}`)
    const text = await a.admin.logs.contents(mine.id, e.log.name).catch(() => '')
    t.notOk(JSON.stringify(text).includes(a.canary.secret), "the published log holds nothing of the host's canary")
    unchanged(t, 'log publish')

    // module apply: a module that writes a file beside it, where a link waits
    const mod = await a.attacker.modules.create({
      name: `attack-${e.engine}`,
      module_type: 'new_relic_license',
      contents: Buffer.from('license_key=attack\n').toString('base64'),
      datastore: { type: e.engine },
    })
    const modDir = `${VOL}/modules/new_relic_license/${mod.id}`
    t.equal(
      (await shell(`mkdir -p ${modDir} && ln -sfn ${a.canary.path} ${modDir}/newrelic.cfg && ln -sfn ${a.canary.path} ${modDir}/contents.dat`)).code,
      0,
      'links planted where the module is written',
    )
    const applied = await a.attacker.modules.apply(mine.id, [mod.id]).catch((err: Error) => err)
    t.comment(`module apply: ${applied instanceof Error ? applied.message : JSON.stringify(applied.map((m) => [m.status, m.message]))}`)
    unchanged(t, 'module apply')

    // backup with the links in its data dir, and a restore of it into a new instance of the attacker's
    const backup = await a.attacker.backups.create({ name: `attack-${e.engine}`, instance: mine.id })
    let b = await a.attacker.backups.get(backup.id)
    const until = Date.now() + 600_000
    while (['NEW', 'BUILDING', 'SAVING'].includes(b.status) && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 300))
      b = await a.attacker.backups.get(backup.id)
    }
    t.comment(
      `backup: ${b.status}${
        b.status === 'COMPLETED'
          ? ''
          : ` ${a.lab.logs
              .filter((l) => /store|backup/i.test(l))
              .slice(-8)
              .join(' | ')} ${diagnose(a, mine.id)}`
      }`,
    )
    unchanged(t, 'backup')
    if (b.status === 'COMPLETED') {
      const restored = await createActive(t, a, a.attacker, { name: `attack-${e.engine}-r`, ...base, restorePoint: { backupRef: b.id } })
      const rmnt = join(a.c.instanceDir(restored.id), 'mnt')
      const found = spawnSync('grep', ['-r', '-l', '-F', '-e', a.canary.secret, '-e', 'victim data', rmnt], { encoding: 'utf8' })
      t.equal(found.stdout, '', "the restored volume holds no byte of the host's canary or the victim's file")
      unchanged(t, 'restore')
      await a.attacker.instances.delete(restored.id)
    }

    // restart with every link in place: the engine comes back
    const before = enginePids(a.c, mine.id)
    await a.attacker.instances.restart(mine.id)
    const back = await waitWhile(a.attacker, mine.id, 'REBOOT', 'SHUTDOWN')
    t.equal(back.status, 'ACTIVE', 'after the restart: ACTIVE')
    // Restarted for real: a new engine process (not the old one still answering), which answers.
    const restarted = Date.now() + 120_000
    let up = false
    while (!up && Date.now() < restarted) {
      const now = enginePids(a.c, mine.id)
      up = now.length > 0 && !now.some((p) => before.includes(p)) && answers(e.engine, ip, root)
      if (!up) await new Promise((r) => setTimeout(r, 300))
    }
    t.ok(up, `and a new engine process answers${up ? '' : `: ${diagnose(a, mine.id)}`}`)
    unchanged(t, 'restart')
  })

  await t.test(`${e.engine}: a full volume, memory beyond the flavor, a signal to every process`, async (t) => {
    const fill = await shell(`dd if=/dev/zero of=${VOL}/tmp/fill bs=1M`)
    t.comment(`dd: ${fill.code} ${fill.out.trim().split('\n')[0]}`)
    const left = hostFree(join(a.c.instanceDir(mine.id), 'mnt'))
    t.ok(left < 2 ** 20, `the volume is full (${left} bytes left, measured on the host)`)
    // What the host gave the volume: its image's allocated blocks. (The host's free space also moves with the other
    // test files running beside this one: two attack files filling their volumes at once failed that measure.)
    const used = statSync(join(a.c.instanceDir(mine.id), 'volume.img')).blocks * 512
    t.ok(used < 1.2 * 2 ** 30, `the host lost at most the volume's size (its image holds ${(used / 2 ** 20).toFixed(0)} MiB)`)
    const full = e.fullWrite(mine, root)
    // InnoDB says a full disk at CREATE TABLE as errno 135, "No more room in record file".
    t.match(
      full,
      /No space left|disk full|is full|MISCONF|errno: 28|Errcode: 28|No more room/i,
      `a write in the engine fails with disk full${/Connection refused|Can't connect/.test(full) ? `: ${diagnose(a, mine.id)}` : ''}`,
    )
    await shell(`rm -f ${VOL}/tmp/fill`)
    unchanged(t, 'a full volume')

    const kills = oomKills(a.c, mine.id)
    const hog = await shell('head -c 1200M /dev/zero | tail > /dev/null')
    t.not(hog.code, 0, `memory beyond the flavor (512 MB) is refused (exit ${hog.code})`)
    t.ok(oomKills(a.c, mine.id) > kills, "by the sandbox's memory cgroup (an OOM kill counted there)")
    unchanged(t, 'memory beyond the flavor')

    const mineEngine = enginePids(a.c, mine.id)
    t.ok(mineEngine.length > 0 && victimEngine.length > 0, 'both engines found in their sandboxes')
    const killed = await shell('kill -9 -1; echo survived')
    t.comment(`kill -9 -1: ${killed.code} ${killed.out.trim()}`)
    t.same(engineMainPids(a.c, victim.id), victimEngine, `the victim's engine is the same process (${victimEngine.join(' ')})`)
    unchanged(t, 'kill -9 -1')
    // The agent (also the instance's user) went with it: the reconciler starts a new one, which starts the engine.
    const deadline = Date.now() + 120_000
    let ok = false
    while (!ok && Date.now() < deadline) {
      ok = answers(e.engine, ip, root) && (await a.attacker.instances.get(mine.id)).status === 'ACTIVE'
      if (!ok) await new Promise((r) => setTimeout(r, 500))
    }
    t.ok(ok, `the attacker's instance recovers: ACTIVE, its engine answers${ok ? '' : `: ${diagnose(a, mine.id)}`}`)
    // The signal was real: its own engine's processes are all new ones.
    let now = enginePids(a.c, mine.id)
    while ((now.length === 0 || now.some((p) => mineEngine.includes(p))) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 300))
      now = enginePids(a.c, mine.id)
    }
    t.ok(now.length > 0 && !now.some((p) => mineEngine.includes(p)), `its own engine was killed and started again (${mineEngine.join(' ')} -> ${now.join(' ')})`)
  })

  await t.test(`${e.engine}: delete with the links in place`, async (t) => {
    await a.attacker.instances.delete(mine.id)
    const deadline = Date.now() + 120_000
    while (
      Date.now() < deadline &&
      (await a.attacker.instances.get(mine.id).then(
        () => true,
        () => false,
      ))
    )
      await new Promise((r) => setTimeout(r, 200))
    t.notOk(statSync(a.c.instanceDir(mine.id), { throwIfNoEntry: false }), 'its directory is gone')
    t.equal(readFileSync(a.canary.path, 'utf8'), `${a.canary.secret}\n`, 'the canary the links pointed at is still there, unchanged')
    unchanged(t, 'delete')
  })
}
