import type { OciSeccomp } from './seccomp.js'

/**
 * The OCI runtime config (config.json) of an instance's sandbox, as runc reads it (docs/isolation.md):
 * an empty read-only rootfs where everything comes from binds, the host's system directories read-only,
 * an /etc of the instance's own (its passwd and group) with the few host entries the engines read bound
 * over it read-only, the volume read-write, private /tmp and /run, its own pid/mount/ipc/uts/network
 * namespaces, no capability at all, no new privileges, a seccomp profile and the flavor's limits.
 * A pure function of its options: the unit test reads what it builds.
 */

/** Where the volume is seen inside the sandbox. */
export const VOLUME_MOUNT = '/var/lib/trove-instance'

/** The host's system directories, bound read-only (on merged-/usr hosts /bin, /lib, ... are symlinks into /usr). */
export const SYSTEM_DIRS = ['/usr', '/bin', '/lib', '/lib64', '/sbin'] as const

/**
 * Host entries of /etc the engines and their tools read, bound read-only over the instance's own /etc.
 * Nothing else of the host's /etc is visible (no hostname, machine-id, ssh, apt, trove or lab files).
 */
export const ETC_ENTRIES = [
  'ld.so.cache',
  'ld.so.conf',
  'ld.so.conf.d',
  'alternatives',
  'localtime',
  'timezone',
  'nsswitch.conf',
  'host.conf',
  'services',
  'protocols',
  'mysql',
  'postgresql-common',
  'ssl/certs',
  'ssl/openssl.cnf',
  'perl',
] as const

/** runc's own defaults (`runc spec`): kernel files a process must not read or write. */
export const MASKED_PATHS = [
  '/proc/acpi',
  '/proc/asound',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/sys/firmware',
]
export const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger']

/** A flavor's limits. Unset fields are not limited. */
export interface SandboxLimits {
  /** Memory (and memory+swap: no swap beyond it), bytes. */
  memoryBytes?: number
  /** CPUs as a CFS quota: 1.5 = 150 ms every 100 ms. */
  cpus?: number
  /** Relative CPU weight (v1 cpu.shares; runc converts it to cpu.weight on v2). */
  cpuShares?: number
  /** Processes and threads. */
  pids?: number
}

export interface OciConfigOptions {
  /** The sandbox's id; its hostname too. */
  id: string
  uid: number
  gid: number
  /** The directory on the host mounted read-write at VOLUME_MOUNT. */
  volumeDir: string
  /** The instance's own /etc on the host (made by the sandbox module: passwd, group, hosts, mount points). */
  etcDir: string
  /** Which ETC_ENTRIES to bind (those the host has as files or directories; symlinks are copied instead). */
  etcBinds: readonly string[]
  /** Which SYSTEM_DIRS to bind (default all; where the host has a symlink, the rootfs has the same symlink instead). */
  systemBinds?: readonly string[]
  /** More host directories or files bound read-only (the agent's package and node binary). */
  extraBinds?: ReadonlyArray<{ source: string; destination: string }>
  /** A network namespace to join (e.g. /run/netns/x); a new, empty one when absent. */
  netnsPath?: string | undefined
  limits: SandboxLimits
  /** The cgroup, relative to runc's own (so the server's limits still apply): `<lab>/<id>`. */
  cgroupsPath: string
  args: string[]
  env: string[]
  seccomp?: OciSeccomp | undefined
  /** /tmp and /dev/shm sizes, bytes (default 64 MiB each). */
  tmpBytes?: number
  /** RLIMIT_NOFILE (default 65536: MariaDB and PostgreSQL open many files). */
  nofile?: number
}

const CFS_PERIOD = 100_000

function ro(source: string, destination: string) {
  return { destination, type: 'bind', source, options: ['bind', 'ro', 'nosuid', 'nodev'] }
}

/** The config.json object. */
export function ociConfig(o: OciConfigOptions) {
  const tmp = o.tmpBytes ?? 64 * 1024 * 1024
  const nofile = o.nofile ?? 65536
  const mounts = [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    {
      destination: '/dev/pts',
      type: 'devpts',
      source: 'devpts',
      options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620'],
    },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', `size=${tmp}`] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    ...(o.systemBinds ?? SYSTEM_DIRS).map((d) => ro(d, d)),
    ro(o.etcDir, '/etc'),
    ...o.etcBinds.map((e) => ro(`/etc/${e}`, `/etc/${e}`)),
    { destination: VOLUME_MOUNT, type: 'bind', source: o.volumeDir, options: ['bind', 'rw', 'nosuid', 'nodev'] },
    { destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=1777', `size=${tmp}`] },
    {
      destination: '/run',
      type: 'tmpfs',
      source: 'tmpfs',
      options: ['nosuid', 'nodev', 'mode=755', `uid=${o.uid}`, `gid=${o.gid}`, 'size=8m'],
    },
    // Last: an extra bind under /tmp or /run (a package installed or cloned there) would be hidden by
    // the sandbox's own tmpfs mounted after it.
    ...(o.extraBinds ?? []).map((b) => ro(b.source, b.destination)),
  ]
  const noCaps = { bounding: [], effective: [], permitted: [], inheritable: [], ambient: [] }
  const resources: Record<string, unknown> = { devices: [{ allow: false, access: 'rwm' }] }
  const l = o.limits
  if (l.memoryBytes !== undefined) resources.memory = { limit: l.memoryBytes, swap: l.memoryBytes }
  if (l.cpus !== undefined || l.cpuShares !== undefined) {
    const cpu: Record<string, number> = {}
    if (l.cpus !== undefined) Object.assign(cpu, { quota: Math.round(l.cpus * CFS_PERIOD), period: CFS_PERIOD })
    if (l.cpuShares !== undefined) cpu.shares = l.cpuShares
    resources.cpu = cpu
  }
  if (l.pids !== undefined) resources.pids = { limit: l.pids }
  const config: Record<string, unknown> = {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid: o.uid, gid: o.gid, additionalGids: [o.gid] },
      args: o.args,
      env: o.env,
      cwd: VOLUME_MOUNT,
      capabilities: noCaps,
      rlimits: [
        { type: 'RLIMIT_NOFILE', hard: nofile, soft: nofile },
        { type: 'RLIMIT_CORE', hard: 0, soft: 0 },
      ],
      noNewPrivileges: true,
    },
    root: { path: 'rootfs', readonly: true },
    hostname: o.id,
    mounts,
    linux: {
      namespaces: [{ type: 'pid' }, { type: 'mount' }, { type: 'ipc' }, { type: 'uts' }, o.netnsPath ? { type: 'network', path: o.netnsPath } : { type: 'network' }],
      // The engines bind 3306/5432/6379 with no capability; harmless in a network namespace of their own.
      sysctl: { 'net.ipv4.ip_unprivileged_port_start': '0' },
      resources,
      cgroupsPath: o.cgroupsPath,
      maskedPaths: MASKED_PATHS,
      readonlyPaths: READONLY_PATHS,
      ...(o.seccomp ? { seccomp: o.seccomp } : {}),
    },
  }
  return config
}

/** The instance's /etc/passwd and /etc/group: root (owner of the read-only system files) and `trove` = uid/gid. */
export function etcIdentity(uid: number, gid: number, hostname: string): { passwd: string; group: string; hosts: string } {
  return {
    passwd: `root:x:0:0:root:/root:/usr/sbin/nologin\ntrove:x:${uid}:${gid}:trove:${VOLUME_MOUNT}:/bin/sh\n`,
    group: `root:x:0:\ntrove:x:${gid}:\n`,
    hosts: `127.0.0.1\tlocalhost\n127.0.1.1\t${hostname}\n::1\tlocalhost ip6-localhost ip6-loopback\n`,
  }
}
