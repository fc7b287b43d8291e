import t, { type Test } from 'tap'
import { execFileSync } from 'node:child_process'
import { randomBytes, randomInt } from 'node:crypto'
import { chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import {
  type CreateSandboxOptions,
  type SandboxRuntime,
  createSandbox,
  destroySandbox,
  execInSandbox,
  killSandbox,
  listSandboxes,
  sandboxCgroupDirs,
  sandboxState,
  sweepSandboxes,
} from '../../../src/server/compute/sandbox.js'
import { hostSeccomp } from '../../../src/server/compute/seccomp.js'

/** What this host lacks for a real runc sandbox, or undefined. */
function lacking(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (runc, mounts, cgroups)'
  try {
    execFileSync('runc', ['--version'], { stdio: 'pipe' })
  } catch {
    return 'runc is not installed (Debian package runc)'
  }
  return undefined
}

const why = lacking()
if (why) t.plan(0, why)

const run = randomBytes(4).toString('hex')
const seccomp = hostSeccomp()

/** A lab of its own: a runc root and a cgroup parent unique to this run, swept in teardown. */
function lab(t: Test) {
  const dir = mkdtempSync('/tmp/tv-sandbox.')
  const rt: SandboxRuntime = { root: join(dir, 'runc'), cgroupParent: `trove-test-${run}-${randomBytes(2).toString('hex')}` }
  t.teardown(async () => {
    await sweepSandboxes(rt, [])
    rmSync(dir, { recursive: true, force: true })
  })
  let n = 0
  const instance = (over: Partial<CreateSandboxOptions> = {}): CreateSandboxOptions => {
    const inst = join(dir, `i${++n}`)
    const uid = 4_200_000 + randomInt(100_000)
    mkdirSync(join(inst, 'volume'), { recursive: true, mode: 0o700 })
    chownSync(join(inst, 'volume'), uid, uid)
    return {
      id: `t${run}-${n}`,
      bundleDir: join(inst, 'bundle'),
      uid,
      gid: uid,
      volumeDir: join(inst, 'volume'),
      limits: { memoryBytes: 64 * 1024 * 1024, cpus: 1, pids: 64 },
      args: ['sh', '-c', 'echo init-started; exec sleep 3600'],
      env: ['PATH=/usr/bin:/bin:/usr/sbin:/sbin'],
      seccomp,
      ...over,
    }
  }
  return { dir, rt, instance }
}

/** Whether the process runs (a zombie waiting for its reaper has ended). */
const alive = (pid: number) => {
  try {
    return !/^\d+ \(.*\) [ZX]/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))
  } catch {
    return false
  }
}

t.test('a shell as uid N in its own namespaces, read-only system, its volume, no privilege', async (t) => {
  const { rt, instance } = lab(t)
  const o = instance()
  const t0 = performance.now()
  const state = await createSandbox(rt, o)
  t.comment(`create -> init running: ${(performance.now() - t0).toFixed(0)} ms`)
  t.equal(state.status, 'running')
  t.ok(alive(state.pid), 'the init runs on the host')
  const sh = async (script: string) => execInSandbox(rt, o.id, ['sh', '-c', script])

  const ps = await sh('ps -e -o comm=')
  t.same(ps.stdout.trim().split('\n').sort(), ['ps', 'sh', 'sleep'], "ps sees only the sandbox's processes")
  t.equal((await sh('id -u; id -g; id -un')).stdout, `${o.uid}\n${o.gid}\ntrove\n`, 'uid N, named trove')
  t.equal((await sh('hostname')).stdout.trim(), o.id, 'its own hostname')

  const status = (await sh('grep -E "^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):" /proc/self/status')).stdout
  for (const cap of ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb']) t.match(status, new RegExp(`^${cap}:\\s+0{16}$`, 'm'), `${cap} empty`)
  t.match(status, /^NoNewPrivs:\s+1$/m)
  t.match(status, /^Seccomp:\s+2$/m, 'a seccomp filter applied')

  const vol = await sh('echo data > /var/lib/trove-instance/f && cat /var/lib/trove-instance/f')
  t.equal(vol.stdout, 'data\n', 'the volume is writable')
  t.equal(statSync(join(o.volumeDir, 'f')).uid, o.uid, "and its files are the instance user's on the host")
  const roPaths = ['/x', '/usr/x', '/etc/x', '/etc/passwd', '/etc/mysql/x']
  const hidden = ['/root', '/work', '/run/trove', '/home', '/var/lib/mysql', '/etc/shadow', '/etc/hostname', '/etc/ssl/private', '/sys']
  const secret = `tv-private-${run}`
  // One exec for the file-system checks (each runc exec costs ~0.2 s): one "what path" line each.
  // A syscall the containers-common profile denies (io_pgetevents, EPERM) that the kernel would answer with EINVAL.
  const probe = join(o.volumeDir, 'seccomp-probe.py')
  writeFileSync(
    probe,
    [
      'import ctypes, os, platform',
      'libc = ctypes.CDLL(None, use_errno=True)',
      "nr = {'x86_64': 333, 'aarch64': 292}[platform.machine()]",
      'libc.syscall(nr, 0, 0, 0, None, None, None)',
      "print('io_pgetevents', os.strerror(ctypes.get_errno()))",
    ].join('\n'),
  )
  t.equal(execFileSync('python3', [probe]).toString(), 'io_pgetevents Invalid argument\n', 'on the host: EINVAL')
  const fsReport = await sh(
    [
      `for p in ${roPaths.join(' ')}; do touch $p 2>/dev/null && echo "writable $p" || echo "read-only $p"; done`,
      `for p in ${hidden.join(' ')}; do test -e $p && echo "exists $p" || echo "absent $p"; done`,
      `echo s > /tmp/${secret} && echo "tmp $(stat -c %a /tmp)"`,
      'touch /run/x && echo "run $(stat -c %u /run)"',
      'echo "passwd $(grep ^trove: /etc/passwd)"',
      'echo "keys $(stat -c "%F %t:%T" /proc/keys)"',
      'echo "netdevs $(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " " | tr "\\n" " ")"',
      `python3 -c "import socket; s=socket.socket(); s.bind(('0.0.0.0', 80)); print('port80 bound')"`,
      'python3 /var/lib/trove-instance/seccomp-probe.py',
    ].join('\n'),
  )
  const lines = fsReport.stdout.trim().split('\n')
  t.same(
    lines.filter((l) => /^(writable|read-only) /.test(l)),
    roPaths.map((p) => `read-only ${p}`),
    '/, /usr, /etc and its binds cannot be written',
  )
  t.same(
    lines.filter((l) => /^(exists|absent) /.test(l)),
    hidden.map((p) => `absent ${p}`),
    'host paths not bound do not exist inside',
  )
  t.ok(lines.includes('tmp 1777'), '/tmp is 1777')
  t.notOk(existsSync(join('/tmp', secret)), "its /tmp is not the host's")
  t.ok(lines.includes(`run ${o.uid}`), "/run is the instance user's")
  t.ok(lines.includes(`passwd trove:x:${o.uid}:${o.gid}:trove:/var/lib/trove-instance:/bin/sh`), 'its own passwd')
  t.ok(lines.includes('keys character special file 1:3'), '/proc/keys masked (/dev/null over it)')
  t.ok(lines.includes('netdevs lo '), 'a network namespace of its own, with only lo')
  t.ok(lines.includes('io_pgetevents Operation not permitted'), 'in the sandbox: EPERM from the seccomp profile')
  t.ok(lines.includes('port80 bound'), 'a port under 1024 without a capability (ip_unprivileged_port_start=0)')
  t.equal(fsReport.stderr, '', `nothing failed unexpectedly: ${fsReport.stderr}`)
  const priv = await sh('chown 0 /var/lib/trove-instance/f || echo refused')
  t.match(priv.stdout, /refused/, 'no chown to root')

  const log = readFileSync(join(o.bundleDir, '..', 'sandbox.log'), 'utf8')
  t.match(log, /init-started/, "the init's output is in the host's log file")
  t.equal(statSync(join(o.bundleDir, '..', 'sandbox.log')).mode & 0o777, 0o640)

  t.ok(
    sandboxCgroupDirs(rt, o.id).every((d) => existsSync(d)),
    'its cgroups exist while it runs',
  )
  const mem = sandboxCgroupDirs(rt, o.id).find((d) => existsSync(join(d, 'memory.usage_in_bytes')) || existsSync(join(d, 'memory.current')))
  if (mem)
    t.comment(
      `memory charged to an idle sandbox (sh+sleep): ${(Number(readFileSync(join(mem, existsSync(join(mem, 'memory.current')) ? 'memory.current' : 'memory.usage_in_bytes'), 'utf8')) / 1024).toFixed(0)} KiB`,
    )
  const runcLeft = readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').includes(rt.root)
      } catch {
        return false
      }
    })
  t.same(runcLeft, [], 'no runc process stays resident once the init runs')

  const t1 = performance.now()
  await destroySandbox(rt, o.id, o.bundleDir)
  t.comment(`destroy: ${(performance.now() - t1).toFixed(0)} ms`)
  t.equal(await sandboxState(rt, o.id), undefined, 'runc knows it no more')
  t.same(await listSandboxes(rt), [])
  t.notOk(alive(state.pid), 'its init is gone')
  t.same(
    sandboxCgroupDirs(rt, o.id).filter((d) => existsSync(d)),
    [],
    'no cgroup left',
  )
  t.notOk(existsSync(o.bundleDir), 'the bundle is removed')
  await destroySandbox(rt, o.id, o.bundleDir)
  await killSandbox(rt, o.id)
  t.pass('destroy and kill again: nothing to do, no error')
})

t.test('a memory limit stops a process that allocates beyond it; a pids limit refuses forks beyond it', async (t) => {
  const { rt, instance } = lab(t)
  const o = instance({ limits: { memoryBytes: 48 * 1024 * 1024, pids: 20 } })
  await createSandbox(rt, o)
  const py = (mib: number) => execInSandbox(rt, o.id, ['python3', '-c', `b = b"x" * (${mib} << 20); print("allocated")`])
  const small = await py(8)
  t.equal(small.stdout, 'allocated\n', '8 MiB under a 48 MiB limit')
  const big = await py(200)
  t.not(big.code, 0, `200 MiB under a 48 MiB limit fails (exit ${big.code}: ${big.stderr.trim()})`)
  t.notMatch(big.stdout, /allocated/)
  const memDir = sandboxCgroupDirs(rt, o.id).find((d) => existsSync(join(d, 'memory.limit_in_bytes')) || existsSync(join(d, 'memory.max')))
  t.ok(memDir, 'a memory cgroup')
  const events = memDir ? readFileSync(join(memDir, existsSync(join(memDir, 'memory.events')) ? 'memory.events' : 'memory.oom_control'), 'utf8') : ''
  t.ok(Number(/^oom_kill (\d+)$/m.exec(events)?.[1] ?? 0) > 0, "the kernel OOM-killed it in the sandbox's cgroup (oom_kill)")

  const forks = await execInSandbox(rt, o.id, ['sh', '-c', 'i=0; while [ $i -lt 40 ]; do sleep 600 >/dev/null 2>&1 & i=$((i+1)); done; echo done'])
  t.match(forks.stderr, /fork|Resource temporarily unavailable/i, 'fork refused beyond the pids limit')
  const pidsDir = sandboxCgroupDirs(rt, o.id).find((d) => existsSync(join(d, 'pids.current')))
  t.ok(pidsDir, 'a pids cgroup')
  if (pidsDir) t.ok(Number(readFileSync(join(pidsDir, 'pids.current'), 'utf8')) <= 20, 'never more than 20 tasks')
  const left = pidsDir ? readFileSync(join(pidsDir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean) : []
  t.ok(left.length > 1, `background processes left running (${left.length}): destroy must end them`)
  await destroySandbox(rt, o.id)
  t.same(
    sandboxCgroupDirs(rt, o.id).filter((d) => existsSync(d)),
    [],
    'no cgroup left after destroy',
  )
  t.same(
    left.filter((p) => alive(Number(p))),
    [],
    'none of its processes runs',
  )
})

t.test('bad input: one line naming runc and its reason, nothing left behind', async (t) => {
  const { rt, instance } = lab(t)
  const o = instance({ args: ['/usr/bin/no-such-program'] })
  await t.rejects(createSandbox(rt, o), /^runc run: .*no-such-program.*no such file or directory$/)
  t.equal(await sandboxState(rt, o.id), undefined, 'no runc state')
  t.same(
    sandboxCgroupDirs(rt, o.id).filter((d) => existsSync(d)),
    [],
    'no cgroup',
  )
  await t.rejects(createSandbox(rt, instance({ id: '../escape' })), { message: 'sandbox: invalid id "../escape" (letters, digits, _ . -; at most 64)' })
  const dup = instance()
  await createSandbox(rt, dup)
  await t.rejects(createSandbox(rt, { ...dup }), /^runc run: .*already exists/, 'an id in use is refused')
  t.equal((await sandboxState(rt, dup.id))?.status, 'running', 'and the running one is untouched')
})

t.test("sweep: keeps what is owned, removes the rest, also after a crash that lost runc's state", async (t) => {
  const { rt, instance } = lab(t)
  const kept = instance()
  const gone = instance()
  const crashed = instance()
  await createSandbox(rt, kept)
  await createSandbox(rt, gone)
  const c = await createSandbox(rt, crashed)
  // A crash that lost runc's record of the sandbox: its processes and cgroups are still there.
  rmSync(join(rt.root, crashed.id), { recursive: true, force: true })
  t.equal(await sandboxState(rt, crashed.id), undefined)
  t.ok(alive(c.pid), 'the orphan still runs')
  const removed = await sweepSandboxes(rt, [kept.id])
  t.same(removed.sort(), [gone.id, crashed.id].sort(), 'the two not owned')
  t.equal((await sandboxState(rt, kept.id))?.status, 'running', 'the owned one still runs')
  t.equal(await sandboxState(rt, gone.id), undefined)
  t.notOk(alive(c.pid), "the orphan's processes are killed")
  t.same(
    [...sandboxCgroupDirs(rt, gone.id), ...sandboxCgroupDirs(rt, crashed.id)].filter((d) => existsSync(d)),
    [],
    'and their cgroups removed',
  )
  t.same(await sweepSandboxes(rt, [kept.id]), [], 'a second sweep has nothing to do')
  await sweepSandboxes(rt, [])
  t.same(
    sandboxCgroupDirs(rt).filter((d) => existsSync(d)),
    [],
    "with nothing kept, the lab's cgroup parents go too",
  )
})
