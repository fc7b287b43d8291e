/** An error whose message is fit for the heartbeat's fault and an RPC reply. */
export class GuestError extends Error {}
