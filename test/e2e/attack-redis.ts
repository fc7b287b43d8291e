// The attack suite on Redis (issue 14 item 8, docs/isolation.md "Threat model"): a tenant with root (an
// ACL user with +@all) on its sandboxed instance tries what Redis offers for files and code (CONFIG SET
// dir/dbfilename + SAVE, MODULE LOAD, EVAL, DEBUG, MIGRATE to the other tenant's instance), then, from a
// shell as the engine's user (the threat model's premise), everything else (test/helpers/attack-flows.ts).
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { runAttack } from '../helpers/attack-flows.js'
import { sandboxShell } from '../helpers/attack.js'
import { sandboxLacking } from '../helpers/sandbox-host.js'

const why = sandboxLacking(['redis'])
if (why) t.plan(0, why)

/** Redis commands as the attacker's root over the lab network, one per line: redis-cli's output. */
function cli(ip: string, password: string, ...commands: string[]): string {
  const r = spawnSync('redis-cli', ['-h', ip, '--user', 'root', '--no-auth-warning'], {
    input: `${commands.join('\n')}\n`,
    encoding: 'utf8',
    env: { ...process.env, REDISCLI_AUTH: password },
    timeout: 60_000,
  })
  return `${r.stdout}${r.stderr}`.trim()
}

t.test('redis: root, its file and code commands, and everything from a shell as its user', (t) =>
  runAttack(t, {
    engine: 'redis',
    port: 6379,
    shell: (a, inst) => sandboxShell(a.c, inst.id),
    engineProbes: async (t, a, inst, password, victim) => {
      const ip = inst.ip![0]!
      t.equal(cli(ip, password, 'CONFIG SET maxmemory-policy noeviction'), 'OK', 'control: root changes a setting with CONFIG SET')
      t.match(cli(ip, password, `CONFIG SET dir ${a.lab.dataDir}`), /protected config/, 'CONFIG SET dir: refused (protected config)')
      t.match(cli(ip, password, 'CONFIG SET dbfilename canary.secret'), /protected config/, 'CONFIG SET dbfilename: refused (protected config)')
      t.match(cli(ip, password, 'MODULE LOAD /usr/lib/redis/modules/x.so'), /MODULE command not allowed/, 'MODULE LOAD: refused')
      t.match(cli(ip, password, 'DEBUG SLEEP 0'), /DEBUG command not allowed/, 'DEBUG: refused')
      t.equal(cli(ip, password, 'EVAL "return 6 * 7" 0'), '42', 'control: EVAL runs Lua')
      for (const lua of ['return os.execute("id")', 'return io.open("/etc/passwd"):read("*a")', 'return loadfile("/etc/passwd")', 'return require("os")'])
        t.match(cli(ip, password, `EVAL '${lua}' 0`), /ERR|error/i, `EVAL ${lua}: no such function in Redis's Lua sandbox`)
      t.equal(cli(ip, password, 'SET mk v'), 'OK')
      t.match(cli(ip, password, `MIGRATE ${victim.ip![0]} 6379 mk 0 3000`), /IOERR|timeout|connect/i, "MIGRATE to the other tenant's instance cannot connect")
    },
    configuration: { 'maxmemory-policy': 'allkeys-lru' },
    // A value bigger than what is left, then BGSAVE: its failure makes Redis refuse writes (MISCONF, stop-writes-on-bgsave-error).
    fullWrite: (inst, password) => {
      const ip = inst.ip![0]!
      // Uncompressed: LZF would fold 8 MB of one byte into a few hundred.
      cli(ip, password, 'CONFIG SET rdbcompression no', `EVAL "redis.call('SET', 'big', string.rep('x', 8000000)) return 1" 0`, 'BGSAVE')
      const pause = new Int32Array(new SharedArrayBuffer(4))
      for (let i = 0; i < 300 && /rdb_bgsave_in_progress:1/.test(cli(ip, password, 'INFO persistence')); i++) Atomics.wait(pause, 0, 0, 200)
      return `${/rdb_last_bgsave_status:\S+/.exec(cli(ip, password, 'INFO persistence'))?.[0] ?? ''} ${cli(ip, password, 'SET after-full x')}`
    },
    log: { name: 'redis', file: 'log/redis.log' },
    stableFiles: /^\/(victim\.canary|agent\.json|conf\/|data\/dump\.rdb)/,
  }),
)
