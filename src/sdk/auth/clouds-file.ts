/**
 * Finding and reading clouds.yaml and secure.yaml the way openstacksdk does: the first existing
 * file of the search list wins, and the first existing secure file is deep-merged over it.
 */
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { createRequire } from 'node:module'
import { parseSimpleYaml } from './simple-yaml.js'
import { ConfigError } from './config.js'

/** The file-system access `loadClouds` needs; tests inject temp directories through it. */
export interface ConfigFs {
  exists(file: string): boolean
  readFile(file: string): string
  cwd(): string
  homedir(): string
}

/** The parsed clouds configuration and the files it came from (clouds file first). */
export interface LoadedClouds {
  /** The merged document, or undefined when no clouds file exists. */
  document: unknown
  files: string[]
}

const SUFFIXES = ['.yaml', '.yml', '.json']

/** The real file system (HOME from `env`, else the OS), with any of `overrides` applied. */
export function resolveConfigFs(env: Record<string, string | undefined>, overrides: Partial<ConfigFs> = {}): ConfigFs {
  const real: ConfigFs = {
    exists: (file) => fs.existsSync(file),
    readFile: (file) => fs.readFileSync(file, 'utf8'),
    cwd: () => process.cwd(),
    homedir: () => env['HOME'] || os.homedir(),
  }
  return { ...real, ...overrides }
}

/** The directories searched after OS_CLIENT_CONFIG_FILE, in order. */
export function configSearchDirs(fsImpl: Pick<ConfigFs, 'cwd' | 'homedir'>): string[] {
  return [fsImpl.cwd(), path.join(fsImpl.homedir(), '.config', 'openstack'), '/etc/openstack']
}

/** Candidate paths for `base` ('clouds' or 'secure') in search order. */
export function candidateFiles(base: string, fsImpl: Pick<ConfigFs, 'cwd' | 'homedir'>): string[] {
  return configSearchDirs(fsImpl).flatMap((dir) => SUFFIXES.map((s) => path.join(dir, base + s)))
}

function errorText(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code
  if (code === 'EACCES') return 'permission denied'
  if (code === 'EISDIR') return 'is a directory'
  if (code === 'ENOENT') return 'no such file'
  return err instanceof Error ? err.message : String(err)
}

function lowerFirst(s: string): string {
  return s.charAt(0).toLowerCase() + s.slice(1)
}

function readYaml(file: string, fsImpl: ConfigFs): unknown {
  let text: string
  try {
    text = fsImpl.readFile(file)
  } catch (err) {
    throw new ConfigError('unreadable_config', `cannot read ${file}: ${errorText(err)}`)
  }
  // Most files are plain block mappings: read those without loading the yaml library.
  const simple = parseSimpleYaml(text)
  if (simple !== undefined) return simple ?? {}
  const { parse, YAMLParseError } = createRequire(import.meta.url)('yaml') as typeof import('yaml')
  try {
    // YAML 1.1 and duplicate keys allowed: what PyYAML's safe_load accepts.
    return parse(text, { version: '1.1', uniqueKeys: false }) ?? {}
  } catch (err) {
    if (err instanceof YAMLParseError) {
      const pos = err.linePos?.[0]
      const reason = lowerFirst((err.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, ''))
      const where = pos ? ` at line ${pos.line}, column ${pos.col}` : ''
      throw new ConfigError('invalid_yaml', `invalid yaml in ${file}${where}: ${reason}`)
    }
    throw err
  }
}

function isMapping(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** openstacksdk's `_merge_clouds`: like dict.update, recursing into nested mappings. */
export function mergeClouds(base: unknown, over: unknown): unknown {
  if (!isMapping(base) || !isMapping(over)) return over
  const out: Record<string, unknown> = { ...base }
  for (const [k, v] of Object.entries(over)) out[k] = isMapping(v) && k in out ? mergeClouds(out[k], v) : v
  return out
}

function findFile(override: string | undefined, variable: string, base: string, fsImpl: ConfigFs): string | undefined {
  if (override !== undefined && override !== '') {
    const file = path.resolve(fsImpl.cwd(), override)
    if (!fsImpl.exists(file)) throw new ConfigError('missing_config_file', `${variable} names ${file}, which does not exist`)
    return file
  }
  return candidateFiles(base, fsImpl).find((f) => fsImpl.exists(f))
}

/**
 * Reads clouds.yaml from `OS_CLIENT_CONFIG_FILE`, else the first of ./clouds.yaml,
 * ~/.config/openstack/clouds.yaml, /etc/openstack/clouds.yaml (also .yml and .json), and
 * deep-merges secure.yaml (`OS_CLIENT_SECURE_FILE`, else the same search) over it.
 * Throws ConfigError for a named file that does not exist, an unreadable file, or invalid YAML.
 */
export function loadClouds(env: Record<string, string | undefined>, fsImpl: Partial<ConfigFs> = {}): LoadedClouds {
  const fsFull = resolveConfigFs(env, fsImpl)
  const cloudsFile = findFile(env['OS_CLIENT_CONFIG_FILE'], 'OS_CLIENT_CONFIG_FILE', 'clouds', fsFull)
  const secureFile = findFile(env['OS_CLIENT_SECURE_FILE'], 'OS_CLIENT_SECURE_FILE', 'secure', fsFull)
  if (cloudsFile === undefined) return { document: undefined, files: [] }
  let document = readYaml(cloudsFile, fsFull)
  const files = [cloudsFile]
  if (secureFile !== undefined) {
    document = mergeClouds(document, readYaml(secureFile, fsFull))
    files.push(secureFile)
  }
  return { document, files }
}
