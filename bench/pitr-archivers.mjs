// The two ways of archiving PostgreSQL's WAL that issue 15 names, side by side on a scratch cluster (no
// lab): none; archive_command (cp, like postgresql/backup.ts) with archive_timeout = 1 s; pg_receivewal
// --synchronous from a slot (what the agent runs). For each: pgbench commits/s (BENCH_CLIENTS, default 4,
// one-row INSERTs, BENCH_SECONDS, default 8), the archive written per second, and the RPO after kill -9
// of postgres (and the archiver) under that load: the commits acknowledged by pgbench that are not in the
// archive, as the newest missing commit's age, measured by recovering a copy of the base from the
// archive. Run `node bench/pitr-archivers.mjs` (root; the cluster runs as the lab's run user).
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { RUN_USER, asUser, freePort, machine, pgBin, sleep, until, writeSection } from './lib.mjs'

const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 4)
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8)
const bin = pgBin()
const sh = (args, opts = {}) => execFileSync(asUser(args)[0], asUser(args).slice(1), { stdio: ['pipe', 'pipe', 'pipe'], ...opts }).toString()

const dirSize = (d) => readdirSync(d).reduce((s, n) => s + statSync(join(d, n)).size, 0)

async function one(mode) {
  const root = mkdtempSync('/tmp/tvarch.')
  chmodSync(root, 0o755)
  const data = join(root, 'data')
  const arch = join(root, 'archive')
  const run = join(root, 'run')
  for (const d of [arch, run]) mkdirSync(d)
  execFileSync('chown', ['-R', `${RUN_USER}:${RUN_USER}`, root])
  sh([join(bin, 'initdb'), '-D', data, '-U', 'postgres', '--auth=trust'])
  const port = await freePort()
  const conf = [`port=${port}`, `unix_socket_directories='${run}'`, "listen_addresses=''", 'shared_buffers=51MB', 'wal_level=replica', 'max_wal_senders=5', 'max_replication_slots=5']
  if (mode === 'archive_command') conf.push('archive_mode=on', `archive_command='cp "%p" "${arch}/%f.part" && mv "${arch}/%f.part" "${arch}/%f"'`, 'archive_timeout=1')
  writeFileSync(join(data, 'postgresql.auto.conf'), conf.join('\n') + '\n')
  const pg = spawn(asUser([join(bin, 'postgres'), '-D', data])[0], asUser([join(bin, 'postgres'), '-D', data]).slice(1), { stdio: 'ignore' })
  const psql = (sql) => sh([join(bin, 'psql'), '-X', '-At', '-h', run, '-p', String(port), '-U', 'postgres', '-c', sql]).trim()
  await until(() => psql('SELECT 1') === '1', 60_000, 50)
  psql('CREATE TABLE t (c int, n bigint, at timestamptz DEFAULT clock_timestamp())')
  let recv
  if (mode === 'pg_receivewal') {
    psql("SELECT pg_create_physical_replication_slot('a', true)")
    recv = spawn(
      asUser([join(bin, 'pg_receivewal'), '-D', arch, '-S', 'a', '--synchronous', '-h', run, '-p', String(port), '-U', 'postgres'])[0],
      asUser([join(bin, 'pg_receivewal'), '-D', arch, '-S', 'a', '--synchronous', '-h', run, '-p', String(port), '-U', 'postgres']).slice(1),
      { stdio: 'ignore' },
    )
  }
  const base = join(root, 'base')
  sh([join(bin, 'pg_basebackup'), '-h', run, '-p', String(port), '-U', 'postgres', '-D', base, '-Xfetch', '-c', 'fast'])
  const script = join(root, 'ins.sql')
  writeFileSync(script, 'INSERT INTO t (c, n) VALUES (:client_id, 1);\n')
  chmodSync(script, 0o644)
  const before = dirSize(arch)
  const out = sh([join(bin, 'pgbench'), '-n', '-h', run, '-p', String(port), '-U', 'postgres', '-c', String(CLIENTS), '-T', String(SECONDS), '-f', script, 'postgres'])
  const tps = Number(/tps = ([\d.]+)/.exec(out)?.[1] ?? 0)
  const perSecondMb = (dirSize(arch) - before) / SECONDS / 2 ** 20
  // RPO: writes go on, then kill -9 of everything; what the archive has is recovered from the base.
  const load = spawn(
    asUser([join(bin, 'pgbench'), '-n', '-h', run, '-p', String(port), '-U', 'postgres', '-c', String(CLIENTS), '-T', '30', '-f', script, 'postgres'])[0],
    asUser([join(bin, 'pgbench'), '-n', '-h', run, '-p', String(port), '-U', 'postgres', '-c', String(CLIENTS), '-T', '30', '-f', script, 'postgres']).slice(1),
    { stdio: 'ignore' },
  )
  await sleep(3000)
  const killedAt = Date.now()
  pg.kill('SIGKILL')
  recv?.kill('SIGKILL')
  load.kill('SIGKILL')
  await sleep(500)
  // (The shell's own command line names the dir too: it may kill itself last.)
  spawnSync('sh', ['-c', `for p in $(ls /proc | grep -E '^[0-9]+$'); do [ $p = $$ ] || { tr '\\0' ' ' < /proc/$p/cmdline 2>/dev/null | grep -q '${root}' && kill -9 $p; }; done; true`], {
    stdio: 'ignore',
  })
  let rpoMs = null
  if (mode !== 'none') {
    // Recover the base with the archive (a .partial served as its segment), no target: everything it holds.
    const port2 = await freePort()
    writeFileSync(
      join(base, 'postgresql.auto.conf'),
      `port=${port2}\nunix_socket_directories='${run}'\nlisten_addresses=''\nrestore_command='cp "${arch}/%f" "%p" 2>/dev/null || cp "${arch}/%f.partial" "%p"'\n`,
    )
    writeFileSync(join(base, 'recovery.signal'), '')
    execFileSync('chown', ['-R', `${RUN_USER}:${RUN_USER}`, base])
    rmSync(join(base, 'postmaster.pid'), { force: true })
    const pg2 = spawn(asUser([join(bin, 'postgres'), '-D', base])[0], asUser([join(bin, 'postgres'), '-D', base]).slice(1), { stdio: 'ignore' })
    const psql2 = (sql) => sh([join(bin, 'psql'), '-X', '-At', '-h', run, '-p', String(port2), '-U', 'postgres', '-c', sql]).trim()
    await until(() => psql2('SELECT pg_is_in_recovery()') === 'f', 120_000, 100)
    const newest = Date.parse(psql2('SELECT to_char(max(at) AT TIME ZONE \'UTC\', \'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"\') FROM t'))
    rpoMs = killedAt - newest
    pg2.kill('SIGKILL')
  }
  rmSync(root, { recursive: true, force: true })
  return { mode, tps, perSecondMb, rpoMs }
}

const rows = []
for (const mode of ['none', 'archive_command', 'pg_receivewal']) rows.push(await one(mode))
const none = rows[0].tps
const body = `\`node bench/pitr-archivers.mjs\` (a scratch PostgreSQL 15 cluster, pgbench ${CLIENTS} clients of one-row INSERTs for ${SECONDS} s; RPO: kill -9 of postgres and the archiver 3 s into the same load, recovery of the base backup from the archive, age of the newest recovered row at the kill; ${machine()}).

| archiving | commits/s | vs none | archive written | RPO after kill -9 |
|---|---|---|---|---|
${rows.map((r) => `| ${r.mode === 'archive_command' ? 'archive_command, archive_timeout = 1 s' : r.mode === 'pg_receivewal' ? 'pg_receivewal --synchronous, slot' : 'none'} | ${r.tps.toFixed(0)} | ${(r.tps / none).toFixed(2)}x | ${r.perSecondMb.toFixed(1)} MB/s | ${r.rpoMs === null ? '-' : `${r.rpoMs} ms`} |`).join('\n')}

Chosen: pg_receivewal. archive_command sees only whole segments, so its RPO is archive_timeout plus the copy
at best, and every forced switch writes a whole 16 MB segment (a busy instance writes 16 MB per second of
archive whatever it changed); the stream trails the engine by milliseconds and writes each byte once.
`
writeSection('pitr-archivers', 'Point-in-time recovery: archive_command or pg_receivewal (PostgreSQL)', body)
process.stdout.write(body)
