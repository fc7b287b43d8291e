import { readFileSync } from 'node:fs'
import { arch as nodeArch, release } from 'node:os'

/**
 * The seccomp profile of a sandbox, from the host's containers-common profile
 * (/usr/share/containers/seccomp.json, Debian `golang-github-containers-common`, the moby format).
 *
 * runc has no built-in default profile: the OCI `linux.seccomp` it takes is flat (architectures, then
 * rules), while the moby/containers-common file is conditional: rules apply only on some architectures
 * (`includes.arches` / `excludes.arches`), from some kernel (`includes.minKernel`), or with or without
 * some capabilities (`includes.caps` / `excludes.caps`). Docker and Podman resolve those conditions in Go
 * (moby `profiles/seccomp.setupSeccomp`, containers/common `pkg/seccomp`) and no npm package does it, so
 * it is written here, following the same rules: a rule is kept when every included arch/cap matches and
 * no excluded one does.
 */

export const CONTAINERS_SECCOMP = '/usr/share/containers/seccomp.json'

interface Arg {
  index: number
  value: number
  valueTwo?: number
  op: string
}

interface Conditions {
  arches?: string[]
  caps?: string[]
  minKernel?: string
}

interface MobyRule {
  name?: string
  names?: string[]
  action: string
  args?: Arg[] | null
  errnoRet?: number
  includes?: Conditions
  excludes?: Conditions
}

/** The moby/containers-common profile file, as far as it is read here. */
export interface MobyProfile {
  defaultAction: string
  defaultErrnoRet?: number
  archMap?: { architecture: string; subArchitectures?: string[] }[]
  syscalls: MobyRule[]
}

/** The OCI runtime-spec `linux.seccomp` object. */
export interface OciSeccomp {
  defaultAction: string
  defaultErrnoRet?: number
  architectures: string[]
  syscalls: { names: string[]; action: string; errnoRet?: number; args?: Arg[] }[]
}

/** Node's process.arch to the Go GOARCH names the profile's `arches` use, and to libseccomp's native arch. */
const ARCHES: Record<string, { go: string; scmp: string }> = {
  x64: { go: 'amd64', scmp: 'SCMP_ARCH_X86_64' },
  arm64: { go: 'arm64', scmp: 'SCMP_ARCH_AARCH64' },
  ia32: { go: '386', scmp: 'SCMP_ARCH_X86' },
  arm: { go: 'arm', scmp: 'SCMP_ARCH_ARM' },
  ppc64: { go: 'ppc64le', scmp: 'SCMP_ARCH_PPC64LE' },
  s390x: { go: 's390x', scmp: 'SCMP_ARCH_S390X' },
  riscv64: { go: 'riscv64', scmp: 'SCMP_ARCH_RISCV64' },
}

/** "6.1.0-13-amd64" -> [6, 1]: the kernel's major.minor, compared with a rule's minKernel. */
function kernelVersion(s: string): [number, number] {
  const m = /^(\d+)\.(\d+)/.exec(s)
  return m ? [Number(m[1]), Number(m[2])] : [0, 0]
}

function atLeast(kernel: string, min: string): boolean {
  const [a, b] = kernelVersion(kernel)
  const [c, d] = kernelVersion(min)
  return a > c || (a === c && b >= d)
}

export interface ConvertOptions {
  /** Node's arch name (process.arch); default this host's. */
  arch?: string
  /** The capabilities the sandbox's process has (its bounding set); default none. */
  caps?: string[]
  /** The running kernel's release (os.release()); default this host's. */
  kernel?: string
}

/** Resolves a moby/containers-common profile into the OCI form for one arch, capability set and kernel. */
export function toOciSeccomp(profile: MobyProfile, opts: ConvertOptions = {}): OciSeccomp {
  const a = ARCHES[opts.arch ?? nodeArch()]
  if (!a) throw new Error(`seccomp: no mapping for the architecture ${opts.arch ?? nodeArch()}`)
  const caps = new Set(opts.caps ?? [])
  const kernel = opts.kernel ?? release()
  const native = profile.archMap?.find((m) => m.architecture === a.scmp)
  const architectures = native ? [native.architecture, ...(native.subArchitectures ?? [])] : [a.scmp]
  const syscalls: OciSeccomp['syscalls'] = []
  for (const r of profile.syscalls) {
    const inc = r.includes ?? {}
    const exc = r.excludes ?? {}
    if (inc.arches?.length && !inc.arches.includes(a.go)) continue
    if (exc.arches?.length && exc.arches.includes(a.go)) continue
    if (inc.caps?.length && !inc.caps.every((c) => caps.has(c))) continue
    if (exc.caps?.length && exc.caps.some((c) => caps.has(c))) continue
    if (inc.minKernel && !atLeast(kernel, inc.minKernel)) continue
    const names = r.names?.length ? r.names : r.name ? [r.name] : []
    if (!names.length) continue
    const rule: OciSeccomp['syscalls'][number] = { names, action: r.action }
    if (r.errnoRet !== undefined) rule.errnoRet = r.errnoRet
    if (r.args?.length) rule.args = r.args.map((x) => ({ index: x.index, value: x.value, valueTwo: x.valueTwo ?? 0, op: x.op }))
    syscalls.push(rule)
  }
  const out: OciSeccomp = { defaultAction: profile.defaultAction, architectures, syscalls }
  if (profile.defaultErrnoRet !== undefined) out.defaultErrnoRet = profile.defaultErrnoRet
  return out
}

/** The host's containers-common profile for a process with no capability, or undefined when the file is absent. */
export function hostSeccomp(file = CONTAINERS_SECCOMP, opts: ConvertOptions = {}): OciSeccomp | undefined {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw e
  }
  return toOciSeccomp(JSON.parse(text) as MobyProfile, opts)
}
