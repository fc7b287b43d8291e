// Looking at sandboxed instances from the host, for the sandbox e2e files: Redis over TCP, waiting on a status,
// the processes of a sandbox's cgroup and PID namespace, their ids and fields, a connect from inside a sandbox.
import { readFileSync, readdirSync, readlinkSync } from 'node:fs'
import { connect } from 'node:net'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { netnsName } from '../../src/server/compute/network.js'
import { execInSandbox, sandboxCgroupDirs } from '../../src/server/compute/sandbox.js'
import type { SandboxedCompute } from '../../src/server/compute/sandboxed.js'
import type { Instance, TroveClient } from '../../src/sdk/index.js'

/** AUTH then PING over TCP from this host; resolves with what Redis answered. */
export function authPing(host: string, user: string, password: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host, port: 6379 })
    let got = ''
    s.setTimeout(10_000, () => s.destroy(new Error('redis did not answer in 10 s')))
    s.on('connect', () => s.write(`AUTH ${user} ${password}\r\nPING\r\n`))
    s.on('data', (b) => {
      got += b.toString()
      if (got.split('\r\n').length > 2) {
        s.end()
        resolve(got)
      }
    })
    s.on('error', reject)
  })
}

/** Runs Redis commands after AUTH, one RESP answer line each. */
export function redis(host: string, password: string, commands: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host, port: 6379 })
    let got = ''
    s.setTimeout(30_000, () => s.destroy(new Error('redis did not answer in 30 s')))
    s.on('connect', () => s.write(`AUTH root ${password}\r\n${commands.join('\r\n')}\r\n`))
    s.on('data', (b) => {
      got += b.toString()
      if (got.split('\r\n').length > commands.length + 1) {
        s.end()
        resolve(got)
      }
    })
    s.on('error', reject)
  })
}

export async function waitStatus(client: TroveClient, id: string, from: string): Promise<Instance> {
  const deadline = Date.now() + 300_000
  for (;;) {
    const i = await client.instances.get(id)
    if (i.status !== from || Date.now() > deadline) return i
    await (client.instances.changed(id, from, 20_000) ?? sleep(200))
  }
}

/** Host pids in the sandbox's cgroup (any one hierarchy lists them all). */
export function sandboxPids(c: SandboxedCompute, id: string): number[] {
  for (const dir of sandboxCgroupDirs(c.runtime, id)) {
    try {
      return readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number)
    } catch {
      /* not this hierarchy */
    }
  }
  return []
}

export const uidsOf = (pid: number) =>
  /^Uid:\s+(.*)$/m
    .exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]!
    .split(/\s+/)
    .map(Number)
export const exeOf = (pid: number) => {
  try {
    return readlinkSync(`/proc/${pid}/exe`)
  } catch {
    return ''
  }
}

/** The last field of NSpid: the pid as its own PID namespace sees it. */
export const nsPidOf = (pid: number) =>
  Number(
    /^NSpid:\s+(.*)$/m
      .exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]!
      .split(/\s+/)
      .pop(),
  )
export const statusField = (pid: number, field: string) => new RegExp(`^${field}:\\s+(.*)$`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]

/** Every host process in the PID namespace `ns` (a /proc/<pid>/ns/pid link), zombies included, with its state. */
export function nsProcesses(ns: string): Array<{ pid: number; state: string; comm: string }> {
  const found: Array<{ pid: number; state: string; comm: string }> = []
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    try {
      if (readlinkSync(`/proc/${name}/ns/pid`) !== ns) continue
      const m = /^\d+ \((.*)\) (\S)/s.exec(readFileSync(`/proc/${name}/stat`, 'utf8'))!
      found.push({ pid: Number(name), comm: m[1]!, state: m[2]! })
    } catch {
      /* gone meanwhile */
    }
  }
  return found
}

/** Tries a TCP connect to ip:port from inside the sandbox (bash's /dev/tcp, given up after 4 s): the exit code. */
export async function probeFrom(c: SandboxedCompute, id: string, ip: string, port: number): Promise<number> {
  const r = await execInSandbox(c.runtime, id, ['timeout', '4', 'bash', '-c', `exec 3<>/dev/tcp/${ip}/${port}`])
  return r.code
}

/** The name of an instance's network namespace: a pooled one keeps its pool key (sandbox.json's netKey). */
export function netnsOf(c: SandboxedCompute, id: string): string {
  const rec = JSON.parse(readFileSync(join(c.instanceDir(id), 'sandbox.json'), 'utf8')) as { netKey?: string }
  return netnsName(rec.netKey ?? id)
}
