import type { AccessSpec } from '../../../protocol/index.js'
import { restrictingCidrs } from '../reconfigure.js'
import { MARIADB_REPLICATION_USER } from './users.js'

/**
 * MariaDB has no address filter of its own that spares existing accounts (host
 * masks are per account: rewriting every user's host would change what
 * `user list` shows and what later creates do). So allowed_cidrs are enforced with
 * init_connect, which the server runs for every new connection of an account
 * without SUPER/CONNECTION ADMIN: when the client's address (USER()'s host part;
 * skip-name-resolve makes it the IP) is in none of the CIDRs, SIGNAL fails the
 * statement and the server aborts the connection (ERROR 1184, "init_connect command
 * failed"). Unix-socket sessions (host 'localhost': the agent) always pass.
 * Limitation: accounts with SUPER skip init_connect, so an enabled root
 * ('root'@'%', ALL PRIVILEGES) is not held to the CIDRs.
 */
export function mariadbInitConnect(access: AccessSpec | undefined): string | undefined {
  const nets = restrictingCidrs(access)
  if (!nets) return undefined
  const host = "SUBSTRING_INDEX(USER(),'@',-1)"
  const tests = nets.map((n) => `(INET_ATON(${host}) & ${n.mask}) = ${n.network}`)
  // The agents' replication account (a reserved name, users.ts) connects from the other members of its
  // set, whose addresses the CIDRs need not hold: in a sandbox the packet filter admits only them.
  const replication = `SUBSTRING_INDEX(CURRENT_USER(),'@',1) REGEXP '${MARIADB_REPLICATION_USER.source}'`
  return `IF NOT (${host} = 'localhost' OR ${replication} OR ${tests.join(' OR ')}) THEN SIGNAL SQLSTATE '42000' SET MESSAGE_TEXT = 'Access denied: the client address is not in the allowed CIDRs of this instance'; END IF`
}

/** The my.cnf line (double-quoted: the statement has single quotes and no double quotes or backslashes). */
export function mariadbInitConnectLine(access: AccessSpec | undefined): string {
  const sql = mariadbInitConnect(access)
  return sql ? `init_connect="${sql}"\n` : ''
}
