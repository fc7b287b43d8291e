import { spawn } from 'node:child_process'

/** Options for one run of a host tool. */
export interface ToolOptions {
  /** Written to the tool's stdin (a CNI config, an nft script). */
  input?: string
  /** The whole environment of the tool (CNI plugins take their arguments there); default: this process's. */
  env?: NodeJS.ProcessEnv
}

/** A tool's failure: one line naming the tool and the last line it wrote to stderr (or stdout, for CNI plugins). */
export class ToolError extends Error {
  constructor(
    readonly tool: string,
    readonly code: number | null,
    detail: string,
  ) {
    super(`${tool}: ${detail}`)
  }
}

function lastLine(s: string): string {
  const lines = s
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
  return lines[lines.length - 1] ?? ''
}

/**
 * Runs `file` with `args` (no shell: arguments are never parsed by one) and resolves with its stdout.
 * A non-zero exit rejects with a ToolError whose message is one line. `tool` names the tool in that
 * message (default: the file's base name).
 */
export function runTool(file: string, args: readonly string[], opts: ToolOptions = {}, tool = file.split('/').pop()!): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] })
    const out: Buffer[] = []
    const err: Buffer[] = []
    child.stdout.on('data', (b: Buffer) => out.push(b))
    child.stderr.on('data', (b: Buffer) => err.push(b))
    child.once('error', (e: NodeJS.ErrnoException) => reject(new ToolError(tool, null, e.code === 'ENOENT' ? `not found (${file})` : e.message)))
    child.once('close', (code) => {
      const stdout = Buffer.concat(out).toString()
      if (code === 0) return resolve(stdout)
      const detail = lastLine(Buffer.concat(err).toString()) || lastLine(stdout) || `exited with status ${code}`
      reject(new ToolError(tool, code, detail))
    })
    child.stdin.on('error', () => {
      /* the tool exited before reading its input: its exit status says why */
    })
    child.stdin.end(opts.input ?? '')
  })
}
