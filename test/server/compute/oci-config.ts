import t from 'tap'
import { ETC_ENTRIES, MASKED_PATHS, VOLUME_MOUNT, etcIdentity, ociConfig } from '../../../src/server/compute/oci-config.js'
import { type MobyProfile, toOciSeccomp } from '../../../src/server/compute/seccomp.js'

type J = any

const base = {
  id: 'inst-1',
  uid: 420001,
  gid: 420002,
  volumeDir: '/srv/lab/instances/1/volume',
  etcDir: '/srv/lab/instances/1/bundle/etc',
  etcBinds: ['ld.so.cache', 'ssl/certs'],
  limits: { memoryBytes: 512 * 1024 * 1024, cpus: 1.5, cpuShares: 512, pids: 200 },
  cgroupsPath: 'trove-lab1/inst-1',
  args: ['/usr/bin/trove', 'agent'],
  env: ['PATH=/usr/bin'],
}

t.test('the process: the instance user, no capability at all, no new privileges, sane rlimits', async (t) => {
  const c: J = ociConfig(base)
  t.same(c.process.user, { uid: 420001, gid: 420002, additionalGids: [420002] })
  t.same(c.process.args, base.args)
  t.same(c.process.env, base.env)
  t.equal(c.process.cwd, VOLUME_MOUNT)
  t.same(c.process.capabilities, { bounding: [], effective: [], permitted: [], inheritable: [], ambient: [] })
  t.equal(c.process.noNewPrivileges, true)
  t.same(c.process.rlimits, [
    { type: 'RLIMIT_NOFILE', hard: 65536, soft: 65536 },
    { type: 'RLIMIT_CORE', hard: 0, soft: 0 },
  ])
  t.equal((ociConfig({ ...base, nofile: 1024 }) as J).process.rlimits[0].hard, 1024, 'nofile as given')
  t.equal(c.hostname, 'inst-1')
  t.same(c.root, { path: 'rootfs', readonly: true }, 'an empty read-only rootfs')
})

t.test('mounts: system dirs and /etc read-only, the volume read-write, private /tmp and /run, nothing else of the host', async (t) => {
  const c: J = ociConfig(base)
  const by = (d: string) => c.mounts.find((m: J) => m.destination === d)
  for (const d of ['/usr', '/bin', '/lib', '/lib64', '/sbin']) t.same(by(d), { destination: d, type: 'bind', source: d, options: ['bind', 'ro', 'nosuid', 'nodev'] }, d)
  t.same(by('/etc'), { destination: '/etc', type: 'bind', source: base.etcDir, options: ['bind', 'ro', 'nosuid', 'nodev'] }, "the instance's own /etc")
  t.same(by('/etc/ssl/certs'), { destination: '/etc/ssl/certs', type: 'bind', source: '/etc/ssl/certs', options: ['bind', 'ro', 'nosuid', 'nodev'] })
  t.same(by(VOLUME_MOUNT), { destination: VOLUME_MOUNT, type: 'bind', source: base.volumeDir, options: ['bind', 'rw', 'nosuid', 'nodev'] })
  t.match(by('/tmp'), { type: 'tmpfs', options: ['nosuid', 'nodev', 'mode=1777', `size=${64 * 1024 * 1024}`] })
  t.match(by('/run'), { type: 'tmpfs', options: ['nosuid', 'nodev', 'mode=755', 'uid=420001', 'gid=420002', 'size=8m'] }, "/run is the instance user's (/run/mysqld, /run/postgresql)")
  t.match(by('/proc'), { type: 'proc' })
  t.match(by('/dev'), { type: 'tmpfs' })
  const binds = c.mounts.filter((m: J) => m.type === 'bind').map((m: J) => m.source)
  t.same(binds, ['/usr', '/bin', '/lib', '/lib64', '/sbin', base.etcDir, '/etc/ld.so.cache', '/etc/ssl/certs', base.volumeDir], 'only these host paths')
  t.notOk(
    c.mounts.some((m: J) => m.destination === '/sys'),
    'no /sys',
  )
  const merged: J = ociConfig({ ...base, systemBinds: ['/usr'] })
  t.same(
    merged.mounts.filter((m: J) => m.type === 'bind' && m.source.startsWith('/') && !m.source.startsWith('/etc') && !m.source.startsWith('/srv')).map((m: J) => m.source),
    ['/usr'],
    'a merged-/usr host binds /usr only',
  )
  // A package cloned under /tmp (the CI's checkout) is bound after the sandbox's /tmp tmpfs, not hidden by it.
  const extra: J = ociConfig({ ...base, extraBinds: [{ source: '/tmp/clone/dist', destination: '/tmp/clone/dist' }] })
  const at = (d: string) => extra.mounts.findIndex((m: J) => m.destination === d)
  t.ok(at('/tmp/clone/dist') > at('/tmp') && at('/tmp/clone/dist') > at('/run'), 'extra binds come after the tmpfs mounts that could hide them')
  t.ok(ETC_ENTRIES.includes('mysql') && !ETC_ENTRIES.some((e) => ['passwd', 'shadow', 'hostname', 'ssl/private', 'ssl'].includes(e)), 'no host identity or secrets')
})

t.test('namespaces, sysctl, masked paths, limits, cgroup, seccomp', async (t) => {
  const c: J = ociConfig(base)
  t.same(c.linux.namespaces, [{ type: 'pid' }, { type: 'mount' }, { type: 'ipc' }, { type: 'uts' }, { type: 'network' }], 'a new empty network namespace when none is given')
  const joined: J = ociConfig({ ...base, netnsPath: '/run/netns/trove-x' })
  t.same(joined.linux.namespaces[4], { type: 'network', path: '/run/netns/trove-x' })
  t.same(c.linux.sysctl, { 'net.ipv4.ip_unprivileged_port_start': '0' })
  t.same(c.linux.maskedPaths, MASKED_PATHS)
  t.ok(c.linux.maskedPaths.includes('/proc/kcore') && c.linux.readonlyPaths.includes('/proc/sys'))
  t.same(c.linux.resources, {
    devices: [{ allow: false, access: 'rwm' }],
    memory: { limit: 512 * 1024 * 1024, swap: 512 * 1024 * 1024 },
    cpu: { quota: 150000, period: 100000, shares: 512 },
    pids: { limit: 200 },
  })
  t.same((ociConfig({ ...base, limits: {} }) as J).linux.resources, { devices: [{ allow: false, access: 'rwm' }] }, 'no limit, none written')
  t.equal(c.linux.cgroupsPath, 'trove-lab1/inst-1', "relative: under the server's own groups")
  t.notOk('seccomp' in c.linux)
  const seccomp = { defaultAction: 'SCMP_ACT_ERRNO', architectures: ['SCMP_ARCH_X86_64'], syscalls: [] }
  t.same((ociConfig({ ...base, seccomp }) as J).linux.seccomp, seccomp)
})

t.test('etc identity: trove is the instance uid/gid', async (t) => {
  const e = etcIdentity(420001, 420002, 'inst-1')
  t.match(e.passwd, /^trove:x:420001:420002:trove:\/var\/lib\/trove-instance:\/bin\/sh$/m)
  t.match(e.group, /^trove:x:420002:$/m)
  t.match(e.hosts, /127\.0\.1\.1\tinst-1/)
})

const profile: MobyProfile = {
  defaultAction: 'SCMP_ACT_ERRNO',
  defaultErrnoRet: 38,
  archMap: [
    { architecture: 'SCMP_ARCH_X86_64', subArchitectures: ['SCMP_ARCH_X86', 'SCMP_ARCH_X32'] },
    { architecture: 'SCMP_ARCH_AARCH64', subArchitectures: ['SCMP_ARCH_ARM'] },
  ],
  syscalls: [
    { names: ['read', 'write'], action: 'SCMP_ACT_ALLOW', args: [], includes: {}, excludes: {} },
    { names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 8, valueTwo: 0, op: 'SCMP_CMP_EQ' }] },
    { names: ['arch_prctl'], action: 'SCMP_ACT_ALLOW', includes: { arches: ['amd64', 'x32'] } },
    { names: ['cacheflush'], action: 'SCMP_ACT_ALLOW', includes: { arches: ['arm', 'arm64'] } },
    { names: ['bpf'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_ADMIN'] } },
    { names: ['bpf'], action: 'SCMP_ACT_ERRNO', errnoRet: 1, excludes: { caps: ['CAP_SYS_ADMIN'] } },
    { names: ['newsyscall'], action: 'SCMP_ACT_ALLOW', includes: { minKernel: '5.8' } },
    { names: ['oldonly'], action: 'SCMP_ACT_ALLOW', excludes: { arches: ['amd64'] } },
  ],
}

t.test('seccomp: the containers-common profile resolved for one arch, no capability and a kernel', async (t) => {
  const s = toOciSeccomp(profile, { arch: 'x64', caps: [], kernel: '6.1.0-13-amd64' })
  t.same(s, {
    defaultAction: 'SCMP_ACT_ERRNO',
    defaultErrnoRet: 38,
    architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
    syscalls: [
      { names: ['read', 'write'], action: 'SCMP_ACT_ALLOW' },
      { names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 8, valueTwo: 0, op: 'SCMP_CMP_EQ' }] },
      { names: ['arch_prctl'], action: 'SCMP_ACT_ALLOW' },
      { names: ['bpf'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 },
      { names: ['newsyscall'], action: 'SCMP_ACT_ALLOW' },
    ],
  })
  const arm = toOciSeccomp(profile, { arch: 'arm64', caps: ['CAP_SYS_ADMIN'], kernel: '5.4.0' })
  t.same(arm.architectures, ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM'])
  t.same(
    arm.syscalls.map((r) => `${r.names[0]}:${r.action}`),
    ['read:SCMP_ACT_ALLOW', 'personality:SCMP_ACT_ALLOW', 'cacheflush:SCMP_ACT_ALLOW', 'bpf:SCMP_ACT_ALLOW', 'oldonly:SCMP_ACT_ALLOW'],
    "arm64 rules, the capability's allow rule, no rule for a newer kernel",
  )
  t.throws(() => toOciSeccomp(profile, { arch: 'mips' }), /seccomp: no mapping for the architecture mips/)
})
