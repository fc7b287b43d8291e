// An engine's configuration file read as the engine reads it, beside what the API shows:
// tests compare the two (test/server/api/config-base-agreement.ts, test/e2e/config-attach.ts).

/**
 * The settings an engine reads from its file (later lines win): MariaDB's [mysqld]
 * options (`-` and `_` alike, a bare option is 1), postgresql.conf's `name = value` (a
 * quoted literal unquoted), redis.conf's `name rest-of-line`. Comments and MariaDB's
 * `!include` lines are skipped.
 */
function parse(manager: string, text: string): Map<string, string> {
  const out = new Map<string, string>()
  let section = ''
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    if (!line || line.startsWith('#') || line.startsWith('!')) continue
    if (manager === 'mariadb') {
      const s = /^\[(.+)\]$/.exec(line)
      if (s) section = s[1]!
      else if (section === 'mysqld') {
        const [k, ...v] = line.split('=')
        out.set(k!.trim().replace(/-/g, '_'), v.length ? v.join('=').trim() : '1')
      }
    } else if (manager === 'postgresql') {
      const m = /^(\w+)\s*=\s*(.*)$/.exec(line)
      if (!m) throw new Error(`not a postgresql.conf line: ${line}`)
      const v = m[2]!
      out.set(m[1]!, /^'.*'$/.test(v) ? v.slice(1, -1).replace(/''/g, "'") : v)
    } else {
      const m = /^(\S+)\s+(.*)$/.exec(line)
      if (!m) throw new Error(`not a redis.conf line: ${line}`)
      out.set(m[1]!, m[2]!)
    }
  }
  return out
}

/** The agent's own lines (paths, address, sockets, logging, locale, replication and archiving plumbing, includes): not the user's to tune, not shown. */
const AGENT_ONLY: Record<string, string[]> = {
  mariadb: ['user', 'datadir', 'tmpdir', 'secure_file_priv', 'bind_address', 'socket', 'pid_file', 'log_error', 'server_id', 'log_bin', 'log_slave_updates', 'gtid_strict_mode'],
  postgresql: [
    'data_directory',
    'hba_file',
    'ident_file',
    'external_pid_file',
    'listen_addresses',
    'unix_socket_directories',
    'unix_socket_permissions',
    'log_line_prefix',
    'lc_messages',
    'lc_monetary',
    'lc_numeric',
    'lc_time',
    'archive_mode',
    'archive_command',
    'include_if_exists',
  ],
  redis: ['bind', 'unixsocket', 'unixsocketperm', 'pidfile', 'dir', 'logfile', 'daemonize', 'aclfile', 'include'],
}

/** The tunable settings of an engine's file (the agent's own lines left out), as a plain object for t.same. */
export function fileSettings(manager: string, text: string): Record<string, string> {
  return Object.fromEntries([...parse(manager, text)].filter(([k]) => !AGENT_ONLY[manager]!.includes(k)))
}

/** What the API shows (GET /instances/{id}/configuration), spelled as fileSettings spells it. */
export function shownSettings(manager: string, shown: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(Object.entries(shown).map(([k, v]) => [manager === 'mariadb' ? k.replace(/-/g, '_') : k, String(v)]))
}
