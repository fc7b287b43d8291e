import type { Instance, TroveClient } from '../../../sdk/index.js'
import type { CommandContext } from '../../spec.js'
import { CliError, usageError } from '../../errors.js'
import { findConfiguration, findInstance, isUuidLike } from '../../resolve.js'
import { waitForInstance } from '../../ui/wait.js'

/** Algorithm B (cli.md 4): a UUID-like argument is used verbatim (no request), anything else is looked up (A). */
export async function instanceIdB(client: TroveClient, arg: string): Promise<string> {
  return isUuidLike(arg) ? arg : (await findInstance(client, arg)).id
}

/** Algorithm B against /configurations. */
export async function configurationIdB(client: TroveClient, arg: string): Promise<string> {
  return isUuidLike(arg) ? arg : (await findConfiguration(client, arg)).id
}

/** A positional integer (argparse `type=int`): anything else is a usage error (exit 2). */
export function intArg(name: string, v: unknown): number {
  const s = String(v).trim()
  if (!/^-?\d+$/.test(s)) throw usageError(`argument ${name}: invalid int value: '${String(v)}'`)
  return Number.parseInt(s, 10)
}

/**
 * --wait after an action: until the instance is ACTIVE (or one of `until`), then
 * `check` tells whether the action took effect. A failed resize or upgrade ends in
 * ACTIVE too (on the old flavor/size/version, with a fault): that is an error here.
 */
export async function waitAfterAction(
  ctx: CommandContext,
  client: TroveClient,
  id: string,
  opts: Record<string, unknown>,
  check?: (i: Instance) => string | undefined,
  until: readonly string[] = ['ACTIVE'],
): Promise<void> {
  const inst = await waitForInstance(ctx, client, id, until, opts)
  const problem = inst && check?.(inst)
  if (problem) throw new CliError(`instance ${inst.name} (${inst.id}) ${problem}${inst.fault?.message ? `: ${inst.fault.message}` : ''}`)
}
