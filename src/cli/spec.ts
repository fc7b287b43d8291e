import type { TroveClient } from '../sdk/index.js'
import type { CommandData } from './output/index.js'

/** The process boundary a command may touch; tests pass fakes (CONVENTIONS 3). */
export interface IO {
  stdout(s: string): void
  stderr(s: string): void
  stdinIsTTY: boolean
  stdoutIsTTY: boolean
  stderrIsTTY: boolean
  columns?: number
  env: Record<string, string | undefined>
  /** Aborted on Ctrl-C. */
  signal?: AbortSignal
  /** Answers a prompt (tests); by default prompts read the terminal with node:readline. Null = cancelled. */
  ask?(question: string): Promise<string | null>
  /**
   * Runs a program on this terminal (stdio inherited) and resolves its exit code, or
   * undefined when the program is not installed (`instance connect`).
   */
  exec?(program: string, args: string[]): Promise<number | undefined>
}

/** An option of a command, in commander's flag syntax ('--size <size>'). */
export interface OptionSpec {
  flags: string
  description: string
  default?: unknown
  choices?: string[]
  /** May be given several times; the values collect into an array. */
  repeatable?: boolean
  /** Parse as an integer (a bad value is a usage error). */
  int?: boolean
  hidden?: boolean
}

export interface ArgSpec {
  name: string
  description: string
  variadic?: boolean
  optional?: boolean
  /**
   * An empty value means something here, as upstream (an empty image id with --image-tags), or the
   * command reports it itself (a JSON document gets the JSON parser's error): not refused as empty.
   */
  allowEmpty?: boolean
}

/** What a command's run gets besides its own arguments. */
export interface CommandContext {
  io: IO
  /** The SDK client, authenticated lazily from flags, OS_* and clouds.yaml. */
  client(): Promise<TroveClient>
  /** Global flags (--os-*, --debug). */
  globals: Record<string, unknown>
}

/**
 * A command is data plus run (CONVENTIONS 3): the registrar turns specs into
 * commander commands, help and man pages; run returns data for the renderer.
 */
export interface CommandSpec {
  /** Command words, e.g. ['instance', 'create']. */
  path: string[]
  summary: string
  description?: string
  args?: ArgSpec[]
  options?: OptionSpec[]
  /** What run returns: a list, one object's fields, or nothing/lines. */
  output: 'list' | 'show' | 'none'
  /** Adds --wait and --timeout. */
  wait?: boolean
  examples?: string[]
  /** Left out of `trove --help` (legacy names). */
  hidden?: boolean
  /** A legacy `trove` shell name (cli.md section 1, column 2; section 8). */
  legacy?: boolean
  run(ctx: CommandContext, args: Record<string, unknown>, opts: Record<string, unknown>): Promise<CommandData>
}

/** Exit codes (CONVENTIONS 2), documented in man/trove.1. */
export const EXIT = { ok: 0, failure: 1, usage: 2, cancelled: 3, auth: 4, waitTimeout: 8 } as const
