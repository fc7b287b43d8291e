// The attack suite's lab and probes (test/e2e/attack-*.ts, docs/isolation.md "Threat model", issue 14
// item 8): a sandboxed lab with two tenants; the attacker holds a shell as its instance's user (however
// its engine gives one) and tries everything the threat model says it must not reach. Each probe comes
// with a control that must succeed through the same path, so a probe that cannot fail is seen as such.
import type { Test } from 'tap'
import { createHash, randomBytes } from 'node:crypto'
import { readdirSync, readFileSync, readlinkSync, statfsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { execInSandbox, sandboxCgroupDirs } from '../../src/server/compute/sandbox.js'
import { removeSandboxLab } from '../../src/server/compute/sandbox-lab.js'
import type { SandboxedCompute } from '../../src/server/compute/sandboxed.js'
import { type Instance, TroveClient } from '../../src/sdk/index.js'
import { labClient, startLab, type InProcessLab } from './lab.js'
import { sharedSandboxTemplates } from './sandbox-templates.js'

/** Where an instance's volume is inside its sandbox. */
export const VOL = '/var/lib/trove-instance'

/** A shell as the instance's user: runs `sh -c script`, the exit code and the output (stdout and stderr). */
export type Shell = (script: string) => Promise<{ code: number; out: string }>

export interface AttackLab {
  lab: InProcessLab
  c: SandboxedCompute
  /** The attacker: the lab's demo project, a member. */
  attacker: TroveClient
  /** The victim: a project of its own, a member. */
  victim: TroveClient
  admin: TroveClient
  /** A root-only file in the lab's data dir whose bytes nobody inside may read or change. */
  canary: { path: string; secret: string }
}

/** A lab with `isolation: 'sandbox'` and a second tenant. */
export async function attackLab(t: Test): Promise<AttackLab> {
  const lab = await startLab(t, { isolation: 'sandbox', ...sharedSandboxTemplates })
  const c = lab.server.lab.compute as SandboxedCompute
  // Registered after the lab's own teardown, so it runs first.
  t.teardown(() => removeSandboxLab(c))
  const identity = lab.server.lab.identity
  const project = identity.createProject('victim')
  const password = `Victim-${randomBytes(8).toString('hex')}`
  const user = identity.createUser('victim', password, project.id)
  identity.assignRole(user.id, project.id, 'member')
  const victim = new TroveClient({
    auth: {
      authType: 'password',
      authUrl: `${lab.url}/identity/v3`,
      username: 'victim',
      password,
      projectName: 'victim',
      userDomainName: 'Default',
      projectDomainName: 'Default',
      interface: 'public',
    },
  })
  const secret = `host-secret-${randomBytes(12).toString('hex')}`
  const path = join(lab.dataDir, 'canary.secret')
  writeFileSync(path, `${secret}\n`, { mode: 0o600 })
  return { lab, c, attacker: labClient(lab.cloudsFile), victim, admin: labClient(lab.cloudsFile, {}, 'trove-lab-admin'), canary: { path, secret } }
}

/** Waits while the instance is `from` (or any of `froms`); the instance then. */
export async function waitWhile(client: TroveClient, id: string, ...froms: string[]): Promise<Instance> {
  const deadline = Date.now() + 600_000
  for (;;) {
    const i = await client.instances.get(id)
    if (!froms.includes(i.status) || Date.now() > deadline) return i
    await (client.instances.changed(id, i.status, 20_000) ?? sleep(200))
  }
}

/** Creates an instance and waits for it; fails the test with its sandbox's log when it is not ACTIVE. */
export async function createActive(t: Test, a: AttackLab, client: TroveClient, body: Parameters<TroveClient['instances']['create']>[0]): Promise<Instance> {
  const made = await client.instances.create(body)
  const inst = await waitWhile(client, made.id, 'BUILD')
  if (inst.status !== 'ACTIVE') t.fail(`${body.name}: ${inst.status}; ${tail(join(a.c.instanceDir(made.id), 'sandbox.log'))} ${tail(join(a.c.instanceDir(made.id), 'mnt', 'agent.log'))}`)
  return inst
}

export function tail(file: string, n = 3000): string {
  try {
    return readFileSync(file, 'utf8').slice(-n)
  } catch {
    return ''
  }
}

/** The shell a payload gives (the threat model's premise) where the engine has no statement for it: runc exec as the instance's user. */
export function sandboxShell(c: SandboxedCompute, id: string): Shell {
  return async (script) => {
    const r = await execInSandbox(c.runtime, id, ['sh', '-c', `${script} 2>&1`], 300_000)
    return { code: r.code ?? -1, out: r.stdout + r.stderr }
  }
}

export const sha256 = (file: string): string => {
  try {
    return createHash('sha256').update(readFileSync(file)).digest('hex')
  } catch (e) {
    return `unreadable: ${(e as NodeJS.ErrnoException).code}`
  }
}

/** The lab's secrets and the host files an escape would reach, with their checksums now. */
export function hostFiles(a: AttackLab, victimId: string): Map<string, string> {
  const d = a.lab.dataDir
  const files = [a.canary.path, a.lab.cloudsFile, join(d, 'tls', 'ca.key'), join(d, 'tls', 'ca.crt'), '/etc/passwd', '/etc/shadow', join(a.c.instanceDir(victimId), 'mnt', 'agent.json')]
  return new Map(files.map((f) => [f, sha256(f)]))
}

/** Every file of the victim's volume (no link followed) with its checksum, but the engine's live files that change by themselves. */
export function volumeSums(c: SandboxedCompute, id: string, only: RegExp): Map<string, string> {
  const mnt = join(c.instanceDir(id), 'mnt')
  const out = new Map<string, string>()
  for (const e of readdirSync(mnt, { withFileTypes: true, recursive: true })) {
    const p = join(e.parentPath, e.name)
    if (e.isFile() && only.test(p.slice(mnt.length))) out.set(p.slice(mnt.length), sha256(p))
  }
  return out
}

/** Host pids of the engine's processes in a sandbox (its cgroup's members whose program is the engine's). */
export function enginePids(c: SandboxedCompute, id: string): number[] {
  for (const dir of sandboxCgroupDirs(c.runtime, id)) {
    let pids: number[]
    try {
      pids = readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number)
    } catch {
      continue
    }
    return pids.filter((p) => {
      try {
        return /\/(redis-server|redis-check-rdb|mariadbd|mysqld|postgres)$/.test(readlinkSync(`/proc/${p}/exe`))
      } catch {
        return false
      }
    })
  }
  return []
}

/**
 * The engine's main process(es) in the instance's sandbox: those of enginePids whose parent is not one of
 * them (PostgreSQL's postmaster; its backends and workers come and go on their own).
 */
export function engineMainPids(c: SandboxedCompute, id: string): number[] {
  const pids = enginePids(c, id)
  const parentOf = (p: number): number => {
    try {
      return Number(/^PPid:\s*(\d+)/m.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1])
    } catch {
      return 0
    }
  }
  return pids.filter((p) => !pids.includes(parentOf(p)))
}

/** Free bytes of the filesystem holding `path` on the host. */
export function hostFree(path: string): number {
  const s = statfsSync(path)
  return s.bavail * s.bsize
}

/** The memory cgroup's OOM kill count of a sandbox (v1 memory.oom_control, v2 memory.events), 0 when none is found. */
export function oomKills(c: SandboxedCompute, id: string): number {
  for (const dir of sandboxCgroupDirs(c.runtime, id)) {
    for (const [file, re] of [
      ['memory.events', /^oom_kill (\d+)$/m],
      ['memory.oom_control', /^oom_kill (\d+)$/m],
    ] as const) {
      try {
        const m = re.exec(readFileSync(join(dir, file), 'utf8'))
        if (m) return Number(m[1])
      } catch {
        /* not this hierarchy */
      }
    }
  }
  return 0
}

/** The probes every engine's attacker runs from its shell; each expects the shell to fail, with a control beside it. */
export interface ShellProbe {
  what: string
  script: string
  /** A script through the same path that must succeed (shows the probe can succeed). */
  control?: string
}

/**
 * The shell probes against the other tenant and the host: `victim` is the victim's instance (id, address,
 * engine port), `lab` the lab's data dir on the host (what a shell in the host's mount namespace would see).
 */
export function shellProbes(a: AttackLab, victim: { id: string; ip: string; port: number }, own: { ip: string; port: number }, apiPort: number): ShellProbe[] {
  const vdir = join(a.c.instanceDir(victim.id), 'mnt')
  const d = a.lab.dataDir
  const gw = a.c.network.gateway
  const tcp = (ip: string, port: number) => `timeout 5 bash -c 'exec 3<>/dev/tcp/${ip}/${port}'`
  return [
    { what: "read the victim's data dir (its host path)", script: `ls ${vdir}/data`, control: `ls ${VOL}/data` },
    { what: "read the victim's agent.json (its credentials)", script: `cat ${vdir}/agent.json`, control: `cat ${VOL}/agent.json` },
    { what: "read the victim's logs", script: `cat ${vdir}/log/*`, control: `ls ${VOL}/log` },
    { what: "reach the victim's sockets", script: `ls ${vdir}/run`, control: `ls ${VOL}/run` },
    { what: "read the lab's clouds.yaml", script: `cat ${a.lab.cloudsFile}` },
    { what: "read the lab's SQLite database", script: `head -c 16 ${join(d, 'trove.db')}` },
    { what: "read the lab's CA key", script: `cat ${join(d, 'tls', 'ca.key')}`, control: 'cat /etc/trove-broker.json' },
    // Its bytes, not its name: the sandbox may have a file of its own at the same path (its own /tmp).
    { what: 'read the host canary', script: `grep -F -q ${a.canary.secret} ${a.canary.path}` },
    { what: "read the host's /etc/shadow", script: 'cat /etc/shadow' },
    { what: 'see host users in /etc/passwd', script: "grep -v -E '^(root|trove|nobody):' /etc/passwd", control: 'grep -q "^trove:" /etc/passwd' },
    { what: 'write the sandbox /etc', script: 'echo x >> /etc/passwd' },
    { what: 'write the system directories', script: 'touch /usr/bin/attack' },
    // The test runner's own command line names this file: a shell seeing the host's processes finds it.
    { what: "see the host's processes (the test runner)", script: "grep -q -a -E 'e2e[/]attack-' /proc/[0-9]*/cmdline", control: "grep -q -a -E 'trove[/]bin|bin[/]trove' /proc/[0-9]*/cmdline" },
    { what: 'gain a capability (mount)', script: 'mount -t tmpfs none /tmp', control: 'mount --version' },
    { what: 'read the kernel or cgroup control files (/sys)', script: 'ls /sys/fs/cgroup' },
    { what: "connect to the victim's engine port over the bridge", script: tcp(victim.ip, victim.port), control: tcp(own.ip, own.port) },
    { what: "connect to the server's API port on the gateway", script: tcp(gw, apiPort) },
    { what: 'connect to the host over loopback (its own namespace)', script: tcp('127.0.0.1', apiPort) },
  ]
}

/** Runs each probe (its control first): every control succeeds, every probe fails. */
export async function runShellProbes(t: Test, shell: Shell, probes: ShellProbe[]): Promise<void> {
  for (const p of probes) {
    if (p.control) {
      const c = await shell(p.control)
      t.equal(c.code, 0, `control for "${p.what}": succeeds through the same path${c.code ? ` (${c.out.slice(0, 300)})` : ''}`)
    }
    const r = await shell(p.script)
    t.not(r.code, 0, `${p.what}: refused${r.code === 0 ? ` (got: ${r.out.slice(0, 300)})` : ''}`)
  }
}

/** What this host lacks for the attack suite (root, runc, nft, the CNI plugins, the engine), or undefined. */
