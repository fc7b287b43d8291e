// What a sandboxed lab needs of this host, for the test files that start one: a file plans nothing, saying
// why, where a tool is missing (the suite runs as root on Debian with scripts/setup.sh's packages).
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { PSQL } from './clients.js'

type Check = readonly [tool: string, args: readonly string[]]

const ENGINES: Record<string, Check> = {
  redis: ['redis-server', ['--version']],
  mariadb: ['mariadbd', ['--version']],
  postgresql: [PSQL, ['--version']],
}

/** Why a sandboxed lab with `engines` cannot run here (undefined: it can); `extra` tools are checked too. */
export function sandboxLacking(engines: readonly string[], extra: readonly Check[] = []): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (runc, loop devices, mounts, netns, nft)'
  const checks: Check[] = [['runc', ['--version']], ['nft', ['--version']], ['mkfs.ext4', ['-V']], ...extra, ...engines.map((e) => ENGINES[e]!)]
  // Only "not installed" counts: some tools exit non-zero without an argument they need (resize2fs).
  for (const [tool, args] of checks) if (spawnSync(tool, args, { stdio: 'ignore' }).error) return `${tool} is not installed`
  if (!existsSync('/usr/lib/cni/bridge')) return 'the CNI bridge plugin is missing (containernetworking-plugins)'
  return undefined
}
