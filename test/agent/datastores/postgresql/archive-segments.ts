// The PostgreSQL archiver's pure parts: segment numbers, commit times from pg_waldump, holes,
// and the time form recovery_target_time takes.
import t from 'tap'
import { commitTimes, firstHole, walSeq } from '../../../../src/agent/datastores/postgresql/archive-segments.js'
import { pgTime, pitrScript } from '../../../../src/agent/datastores/postgresql/restore-pitr.js'

const MB16 = 16 << 20

t.test('segment numbers are consecutive across a log id boundary', async (t) => {
  t.equal(walSeq('0000000100000000000000FF', MB16), 255)
  t.equal(walSeq('000000010000000100000000', MB16), 256, 'the next segment after ...00FF')
  t.equal(walSeq('000000020000000100000000', MB16), 256, 'the timeline does not count')
  t.equal(walSeq('000000010000000100000000.partial'.slice(0, 24), MB16), 256)
})

t.test('first and last commit times from pg_waldump output', async (t) => {
  const out = [
    'rmgr: Transaction len (rec/tot):     34/    34, tx:        735, lsn: 0/01000028, prev 0/00000000, desc: COMMIT 2026-12-05 14:10:01.123456 UTC',
    'rmgr: Transaction len (rec/tot):     34/    34, tx:        736, lsn: 0/01000050, prev 0/01000028, desc: ABORT 2026-12-05 14:10:02.000001 UTC',
    'rmgr: Transaction len (rec/tot):     34/    34, tx:        737, lsn: 0/01000078, prev 0/01000050, desc: COMMIT 2026-12-05 14:10:03.5 UTC; inval msgs: catcache 1',
    'pg_waldump: error: error in WAL record at 0/1FFFFF8: invalid record length',
  ].join('\n')
  t.same(commitTimes(out), { first_time: '2026-12-05T14:10:01.123456Z', last_time: '2026-12-05T14:10:03.5Z' })
  t.same(commitTimes('pg_waldump: error: could not find a valid record'), { first_time: null, last_time: null }, 'none: nulls')
})

t.test('holes in the sequence, the open segment included', async (t) => {
  t.equal(firstHole(['000000010000000000000001', '000000010000000000000002', '000000010000000000000003.partial'], MB16), undefined)
  t.equal(firstHole(['000000010000000000000001', '000000010000000000000004.partial'], MB16), 'segments 2 to 3 are missing from the archive')
  t.equal(firstHole(['000000010000000000000001', '000000010000000000000003'], MB16, 3), undefined, 'before fromSeq: removed on purpose')
})

t.test('recovery_target_time form', async (t) => {
  t.equal(pgTime('2026-12-05T14:25:34.022Z'), '2026-12-05 14:25:34.022+00')
  t.equal(pgTime('2026-12-05T14:25:34.022123+02:00'), '2026-12-05 14:25:34.022123+02:00')
  t.throws(() => pgTime('2026-12-05 14:25:34'), /not an ISO 8601 time with its zone/)
})

t.test('restore_command script: staged segment, then the open one, then the chain', async (t) => {
  const s = pitrScript("/x/it's", '/y/wal')
  t.match(s, /a='\/x\/it'\\''s'/, 'quoted for the shell')
  t.ok(s.indexOf('"$a/$f.partial"') > s.indexOf('"$a/$f"'), 'the .partial after the complete segment')
  t.match(s, /'\/y\/wal'\/"\$f"/, 'the chain WAL last')
  t.match(pitrScript('/x', undefined), /exit 1\n$/, 'else: not there')
})
