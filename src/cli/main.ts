import { spawn } from 'node:child_process'
import { constants as osConstants } from 'node:os'
import { fileURLToPath } from 'node:url'
import type { IO } from './spec.js'

/** The real process as IO. */
export function processIO(): IO {
  // `trove ... | head`: the reader went away; that is not an error of ours.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== 'EPIPE') throw e
    })
  }
  return {
    stdout: (s) => {
      process.stdout.write(s)
    },
    stderr: (s) => {
      process.stderr.write(s)
    },
    stdinIsTTY: Boolean(process.stdin.isTTY),
    stdoutIsTTY: Boolean(process.stdout.isTTY),
    stderrIsTTY: Boolean(process.stderr.isTTY),
    columns: process.stdout.columns,
    env: process.env,
    exec: (program, args) =>
      new Promise((resolve, reject) => {
        // The terminal sends Ctrl-C and Ctrl-\\ to the client and to us: the client decides what
        // they mean (psql cancels a query), we stay until it exits.
        const ignore = () => {}
        process.on('SIGINT', ignore)
        process.on('SIGQUIT', ignore)
        const done = () => {
          process.off('SIGINT', ignore)
          process.off('SIGQUIT', ignore)
        }
        const child = spawn(program, args, { stdio: 'inherit' })
        child.once('error', (e: NodeJS.ErrnoException) => {
          done()
          if (e.code === 'ENOENT') resolve(undefined)
          else reject(e)
        })
        child.once('exit', (code, signal) => {
          done()
          resolve(code ?? 128 + (signal ? (osConstants.signals[signal] ?? 0) : 0))
        })
      }),
  }
}

/**
 * The agent: its one-file build (dist/agent/bundle.js, scripts/build.mjs) where there is one,
 * which starts ~100 ms sooner than ~130 modules loaded one by one; else its modules (src/ under a
 * TypeScript loader, or a build made without esbuild).
 */
async function loadAgent(): Promise<typeof import('../agent/index.js')> {
  const bundle = new URL('../agent/bundle.js', import.meta.url)
  try {
    return (await import(bundle.href)) as typeof import('../agent/index.js')
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND' || !String((e as Error).message).includes(fileURLToPath(bundle))) throw e
    return import('../agent/index.js')
  }
}

/**
 * The CLI entry: returns the exit code and never calls process.exit (CONVENTIONS 2).
 * `trove agent` takes a fast path that loads only the agent, which keeps every
 * instance's agent small; everything else loads the command-line program.
 */
export async function main(argv: string[], io: IO = processIO()): Promise<number> {
  if (argv[0] === 'agent' && !argv.includes('--help') && !argv.includes('-h')) {
    const { runAgent } = await loadAgent()
    return runAgent(argv.slice(1))
  }
  // The most used read commands skip commander and the command index (cli start-up time).
  if (argv.length >= 2 && !argv[0].startsWith('-') && io.env.TROVE_NO_FAST_PATH === undefined) {
    const { runFast } = await import('./fast.js')
    const code = await runFast(argv, io)
    if (code !== undefined) return code
  }
  const { runProgram } = await import('./program.js')
  return runProgram(argv, io)
}
