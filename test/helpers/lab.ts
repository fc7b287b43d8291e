import { spawn, type ChildProcess } from 'node:child_process'
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'
import type { ServerOptions, TroveServer } from '../../src/server/index.js'
import { processesUnder, terminate } from '../../src/server/compute/processes.js'
import { CLAIM_DIR } from '../../src/server/compute/addresses.js'
import { instanceGroupDirs, removeInstanceGroups } from '../../src/server/compute/cgroups.js'
import { main } from '../../src/cli/main.js'
import type { IO } from '../../src/cli/spec.js'
import { contract } from './contract.js'
import { SUITE_TEMPLATES_DIR } from './templates-dir.js'
import { SUITE_SANDBOX_TEMPLATES_DIR } from './sandbox-templates.js'
import { resolveAuth, TroveClient, type ClientOptions, type Instance } from '../../src/sdk/index.js'

export const ROOT = resolve(fileURLToPath(import.meta.url), '../../..')
export const TROVE = join(ROOT, 'bin/trove')

/** The labs of a test run share one template dir (helpers/templates-dir.ts). */
process.env.TROVE_TEMPLATES_DIR ??= SUITE_TEMPLATES_DIR
// The whole suite on the sandboxed compute (`TROVE_ISOLATION=sandbox npm test`, issue 14): its labs share the
// sandbox templates as the sandbox test files' do (helpers/sandbox-templates.ts).
if (process.env.TROVE_ISOLATION === 'sandbox') process.env.TROVE_SANDBOX_TEMPLATES_DIR ??= SUITE_SANDBOX_TEMPLATES_DIR

/**
 * With tap's coverage on, the processes tests start (trove commands, lab servers and their agents)
 * count too: tap covers only its own test processes (its loader, which they drop with NODE_OPTIONS),
 * so the code that only e2e tests reach, in a server or an agent, counted as never run. Node writes
 * a process's coverage into NODE_V8_COVERAGE at its exit, in the format tap's files have
 * (scripts/coverage-report.mjs reads them all).
 */
if (process.env._TAPJS_PROCESSINFO_COVERAGE_ === '1') process.env.NODE_V8_COVERAGE ??= join(ROOT, '.tap/coverage')

/**
 * Runs the real bin/trove. tap's processinfo injects its loader into every child's
 * NODE_OPTIONS; `env -u` drops it, so the child is exactly what a user runs (env
 * execs node in place: the pid stays the child's).
 */
export function troveCommand(args: string[]): [string, string[]] {
  return ['/usr/bin/env', ['-u', 'NODE_OPTIONS', process.execPath, TROVE, ...args]]
}

/** An upstream request body or response shape, from the repository's own contract table. */
export function sample(name: string): unknown {
  return contract(name)
}

/** A short temp dir the engine user can traverse (mkdtemp makes 0700 dirs). */
export function tempDir(t: Test, prefix = 'tv'): string {
  const d = mkdtempSync(`/tmp/${prefix}.`)
  chmodSync(d, 0o711)
  t.teardown(async () => {
    await removeSandboxedLabs(d)
    await killEverythingUnder(d)
    // TROVE_TEST_KEEP=1 keeps a failed test's directory (server, agent and engine logs) to read.
    if (process.env.TROVE_TEST_KEEP && t.passing() === false) t.comment(`kept ${d}`)
    else rmSync(d, { recursive: true, force: true })
  })
  return d
}

/**
 * Removes the sandboxed labs under `dir` (itself or a directory up to two levels down that ran sandboxes) as
 * `trove server reset` does: their volumes are mounted inside, so no rm may go through them first. The labs
 * of files that do not ask for sandboxes have them under `TROVE_ISOLATION=sandbox`. A lab whose server still
 * runs (a process the test left) is stopped by the reset.
 */
async function removeSandboxedLabs(dir: string): Promise<void> {
  // What removeSandboxLab removes last: a lab its own file removed already is passed over.
  const sandboxed = (d: string) => existsSync(join(d, 'sandbox', 'runc')) || existsSync(join(d, 'network'))
  const labs: string[] = []
  const visit = (d: string, depth: number) => {
    if (sandboxed(d)) labs.push(d)
    else if (depth < 2) for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) visit(join(d, e.name), depth + 1)
  }
  try {
    visit(dir, 0)
  } catch {
    /* gone */
  }
  if (!labs.length) return
  const { resetLab } = await import('../../src/server/lab-control.js')
  for (const lab of labs) await resetLab(lab)
}

/** Kills whatever an instance under `dir` left running and drops its address claims. */
export async function killEverythingUnder(dir: string): Promise<void> {
  // Again until none is left: an agent still alive when its engine died restarts it (its crash backoff) after
  // the first look, and that engine would outlive the lab (seen: mariadbd under directories long removed).
  for (let round = 0; round < 5; round++) {
    const pids = processesUnder(dir)
    if (!pids.length) break
    await terminate(pids, 5000)
  }
  const ids: string[] = []
  for (const sub of ['lab/instances', 'instances']) {
    try {
      ids.push(...readdirSync(join(dir, sub)))
    } catch {
      /* none */
    }
  }
  for (const id of ids) await removeInstanceGroups(instanceGroupDirs(id), 2000)
  try {
    for (const a of readdirSync(CLAIM_DIR)) {
      try {
        if (readFileSync(join(CLAIM_DIR, a), 'utf8').startsWith(dir + '/')) rmSync(join(CLAIM_DIR, a))
      } catch {
        /* raced */
      }
    }
  } catch {
    /* no claims dir */
  }
}

export interface InProcessLab {
  server: TroveServer
  url: string
  dataDir: string
  cloudsFile: string
  /** Environment for CLI runs against this lab as the demo user. */
  env: Record<string, string>
  logs: string[]
}

/**
 * The server's module for the labs of this process. Loaded when a lab starts, not at the top: most of the
 * files that use these helpers run `trove server` as a process, or no server. Under `npm test`, which has just
 * built dist/ from these sources and says so in TROVE_TEST_BUNDLES, it is the server's bundle, the file
 * `trove server` runs: ~0.4 CPU-s to load with coverage on, where src/server/index.ts through the test loader
 * (~300 modules of ours, fastify's and ajv's files) took ~1.5, in each of ~100 test processes (issue 11).
 * Coverage counts it on src/ through the bundle's source map, as for `trove server` processes. A test file run
 * by itself (`npx tap FILE`) loads the sources, which may be newer than dist/.
 */
export async function serverModule(): Promise<Pick<typeof import('../../src/server/index.js'), 'buildServer'>> {
  if (process.env.TROVE_TEST_BUNDLES === '1') return (await import(BUNDLED_SERVER)) as typeof import('../../src/server/index.js')
  return import('../../src/server/index.js')
}
const BUNDLED_SERVER = new URL('../../dist/server/bundle.js', import.meta.url).href

/** buildServer() of serverModule(): the bundle's under `npm test`, the sources' otherwise. */
export async function buildServer(opts: ServerOptions = {}): Promise<TroveServer> {
  return (await serverModule()).buildServer(opts)
}

/** A server in this process on port 0 (HTTP, broker, tasks; no agents needed for API tests). */
export async function startLab(t: Test, opts: ServerOptions = {}): Promise<InProcessLab> {
  const { buildServer } = await serverModule()
  const dir = tempDir(t)
  const logs: string[] = []
  const server = await buildServer({ dataDir: join(dir, 'lab'), host: '127.0.0.1', port: 0, log: (m) => logs.push(m), ...opts })
  const { url, cloudsFile } = await server.start()
  t.teardown(() => server.close())
  return { server, url, dataDir: join(dir, 'lab'), cloudsFile, env: labEnv(cloudsFile), logs }
}

/** This process's environment without the test runner's loaders (NODE_OPTIONS, TAP_*) and lab settings. */
export function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined || k === 'NODE_OPTIONS' || k.startsWith('TAP') || k.startsWith('OS_') || k === 'TROVE_DATA_DIR') continue
    env[k] = v
  }
  return { ...env, ...extra }
}

/** An SDK client of a lab's user, configured the way an SDK user does it: from the lab's clouds.yaml. */
export function labClient(cloudsFile: string, opts: Omit<ClientOptions, 'auth'> = {}, cloud = 'trove-lab'): TroveClient {
  return new TroveClient({ ...opts, auth: resolveAuth({ env: { OS_CLIENT_CONFIG_FILE: cloudsFile }, cloud }) })
}

/**
 * Polls (SDK, in this process) until `done` holds for the instance named or numbered `ref`
 * (undefined once it is gone), with a pause growing from 0.1 to 1 s; the instance as last seen.
 * For the waits of tests whose subject is not the CLI process: a bin/trove run costs ~0.3 s of
 * CPU, and such loops ran dozens. The deadline only ends a hang (a busy machine is only slower).
 */
export async function pollInstance(cloudsFile: string, ref: string, done: (i: Instance | undefined) => boolean, timeoutMs = 300_000): Promise<Instance | undefined> {
  const client = labClient(cloudsFile)
  const deadline = Date.now() + timeoutMs
  for (let pause = 100; ; pause = Math.min(pause * 2, 1000)) {
    const i = (await client.instances.page({ limit: 1000 })).items.find((x) => x.id === ref || x.name === ref)
    if (done(i) || Date.now() > deadline) return i
    await new Promise((r) => setTimeout(r, pause))
  }
}

export function labEnv(cloudsFile: string, cloud = 'trove-lab'): Record<string, string> {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/nonexistent', OS_CLIENT_CONFIG_FILE: cloudsFile, OS_CLOUD: cloud }
}

/** Runs main() in-process with captured IO. */
export async function runMain(args: string[], env: Record<string, string | undefined>, tty = false): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = ''
  let stderr = ''
  const io: IO = {
    stdout: (s) => {
      stdout += s
    },
    stderr: (s) => {
      stderr += s
    },
    stdinIsTTY: tty,
    stdoutIsTTY: tty,
    stderrIsTTY: tty,
    columns: 200,
    env,
  }
  const code = await main(args, io)
  return { code, stdout, stderr }
}

/** Runs bin/trove as a child process (the real thing: argv, exit code, streams). */
export function runCli(args: string[], env: Record<string, string | undefined>, timeoutMs = 180_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done, fail) => {
    const [cmd, argv] = troveCommand(args)
    const child = spawn(cmd, argv, { env: env as NodeJS.ProcessEnv, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (b) => {
      stdout += b
    })
    child.stderr.on('data', (b) => {
      stderr += b
    })
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      fail(new Error(`trove ${args.join(' ')} timed out; stderr: ${stderr}`))
    }, timeoutMs)
    child.on('close', (code) => {
      clearTimeout(timer)
      done({ code: code ?? -1, stdout, stderr })
    })
  })
}

export interface ServerProcess {
  child: ChildProcess
  url: string
  dataDir: string
  cloudsFile: string
  env: Record<string, string>
  output(): string
  /** SIGTERM and wait for exit: the exit code, or the signal that ended it. */
  stop(): Promise<number | NodeJS.Signals | null>
}

/** `trove server --data-dir D --port 0` as a child process (`env`: extra variables); resolves once its banner is out. */
export function startServerProcess(t: Test, dataDir: string, extraArgs: string[] = [], env: Record<string, string> = {}): Promise<ServerProcess> {
  return new Promise((done, fail) => {
    const [cmd, argv] = troveCommand(['server', '--data-dir', dataDir, '--port', '0', ...extraArgs])
    const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: cleanEnv(env) })
    let out = ''
    const onData = (b: Buffer) => {
      out += b
      const m = /listening on (http:\/\/\S+)/.exec(out)
      if (m && out.includes('use it:')) {
        const cloudsFile = join(dataDir, 'clouds.yaml')
        const proc: ServerProcess = {
          child,
          url: m[1],
          dataDir,
          cloudsFile,
          env: labEnv(cloudsFile),
          output: () => out,
          stop: () =>
            new Promise((r) => {
              if (child.exitCode !== null || child.signalCode !== null) return r(child.exitCode ?? child.signalCode)
              child.once('exit', (c, s) => r(c ?? s))
              child.kill('SIGTERM')
            }),
        }
        done(proc)
      }
    }
    child.stdout.on('data', onData)
    child.stderr.on('data', onData)
    child.once('exit', (c) => {
      if (!/listening on/.test(out)) fail(new Error(`server exited ${c}: ${out}`))
    })
    t.teardown(async () => {
      // Killed by the test (exitCode stays null then, signalCode says why): nothing to wait for.
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM')
        await new Promise((r) => child.once('exit', r))
      }
    })
  })
}
