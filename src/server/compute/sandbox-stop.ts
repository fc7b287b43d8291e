import { setTimeout as sleep } from 'node:timers/promises'

/**
 * Stops a sandboxed instance's agent only (SIGTERM, SIGKILL after 5 s): the engine keeps running, re-parented to the
 * sandbox's init, and the next agent re-adopts it. The agent is not this process's child (runc exec left it), so its
 * end is seen in /proc (`agentPid`: gone, or a zombie its host parent has yet to reap).
 */
export async function stopSandboxAgent(id: string, agentPid: () => number | undefined): Promise<void> {
  for (const [signal, ms] of [
    ['SIGTERM', 5000],
    ['SIGKILL', 5000],
  ] as const) {
    const pid = agentPid()
    if (pid === undefined) return
    try {
      process.kill(pid, signal)
    } catch {
      return
    }
    const deadline = Date.now() + ms
    while (agentPid() === pid && Date.now() < deadline) await sleep(20)
  }
  if (agentPid() !== undefined) throw new Error(`instance ${id}: its agent did not end after SIGKILL`)
}
