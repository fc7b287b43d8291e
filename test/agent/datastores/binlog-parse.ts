// mariadb-binlog's text output read for point-in-time recovery: transaction ends and stamps, where a
// replay to a time stops, the backup's binlog start, the restore target's resolution.
import t from 'tap'
import { BinlogParser, binlogName, binlogSeq, parseBinlogText, stopPosition } from '../../../src/agent/datastores/mariadb/binlog-parse.js'
import { binlogStart } from '../../../src/agent/datastores/mariadb/backup.js'
import { holes } from '../../../src/agent/datastores/mariadb/binlog-segments.js'
import { parseStart, targetSeconds } from '../../../src/agent/datastores/mariadb/pitr.js'

// Trimmed from `TZ=UTC mariadb-binlog --no-defaults mysql-bin.000002` of MariaDB 10.11 (row format):
// an InnoDB transaction, a DDL, an Aria insert (COMMIT as a Query event), then a transaction cut short.
const TEXT = `# at 4
#261205 14:06:53 server id 7  end_log_pos 256 CRC32 0xebb81a6f 	Start: binlog v 4, server v 10.11.19-MariaDB-0+deb12u1-log created 261205 14:06:53
# at 256
#261205 14:06:53 server id 7  end_log_pos 299 CRC32 0x77a0fd2e 	Gtid list [0-7-8]
# at 342
#261205 14:06:53 server id 7  end_log_pos 384 CRC32 0x1ae73fdd 	GTID 0-7-9 trans
/*M!100001 SET @@session.gtid_seq_no=9*//*!*/;
START TRANSACTION
# at 384
# at 442
#261205 14:06:53 server id 7  end_log_pos 442 CRC32 0x7171e86b 	Annotate_rows:
#Q> INSERT INTO d.t(ts) VALUES (NOW(6))
#261205 14:06:53 server id 7  end_log_pos 485 CRC32 0x313d794c 	Table_map: \`d\`.\`t\` mapped to number 18
# at 485
#261205 14:06:53 server id 7  end_log_pos 531 CRC32 0x46255341 	Write_rows: table id 18 flags: STMT_END_F
# at 531
#261205 14:06:53 server id 7  end_log_pos 562 CRC32 0xa0ce2e32 	Xid = 22
COMMIT/*!*/;
# at 605
#261205 14:08:10 server id 7  end_log_pos 647 CRC32 0x0c449cba 	GTID 0-7-10 ddl
/*M!100001 SET @@session.gtid_seq_no=10*//*!*/;
# at 647
#261205 14:08:10 server id 7  end_log_pos 754 CRC32 0x4a4073ff 	Query	thread_id=12	exec_time=0	error_code=0	xid=118
SET TIMESTAMP=1796479690/*!*/;
CREATE TABLE d.a(i int) ENGINE=Aria
/*!*/;
# at 754
#261205 14:08:11 server id 7  end_log_pos 796 CRC32 0xdf9278d4 	GTID 0-7-11
/*M!100001 SET @@session.gtid_seq_no=11*//*!*/;
START TRANSACTION
# at 796
# at 845
#261205 14:08:11 server id 7  end_log_pos 845 CRC32 0x6959e813 	Annotate_rows:
#Q> INSERT INTO d.a VALUES (1)
# at 886
#261205 14:08:11 server id 7  end_log_pos 924 CRC32 0xfc3f0702 	Write_rows: table id 24 flags: STMT_END_F
# at 924
#261205 14:08:11 server id 7  end_log_pos 993 CRC32 0x7394e4d5 	Query	thread_id=12	exec_time=0	error_code=0	xid=0
SET TIMESTAMP=1796479691/*!*/;
COMMIT
/*!*/;
# at 993
#261205 14:08:12 server id 7  end_log_pos 1035 CRC32 0x0c449cbb 	GTID 0-7-12 trans
START TRANSACTION
# at 1035
#261205 14:08:12 server id 7  end_log_pos 1093 CRC32 0x7171e86c 	Annotate_rows:
#Q> INSERT INTO d.t(ts) VALUES (NOW(6))
`

const at = (s: string): number => Date.parse(s) / 1000

t.test('whole transactions with their end and stamp; a cut one is left out', async (t) => {
  t.same(parseBinlogText(TEXT), [
    { start: 342, end: 562, time: at('2026-12-05T14:06:53Z') },
    { start: 605, end: 754, time: at('2026-12-05T14:08:10Z') },
    { start: 754, end: 993, time: at('2026-12-05T14:08:11Z') },
  ])
  const p = new BinlogParser()
  p.line('COMMIT/*!*/;')
  t.same(p.units, [], 'a COMMIT outside a transaction is nothing')
})

t.test('where a replay stops: inclusive of the target second, before the first stamped after it', async (t) => {
  const units = parseBinlogText(TEXT)
  t.same(stopPosition(units, at('2026-12-05T14:08:10Z')), { pos: 754, reached: true }, 'the DDL at 14:08:10 is in, the 14:08:11 insert is not')
  t.same(stopPosition(units, at('2026-12-05T14:06:52Z')), { pos: 342, reached: true }, 'a target before every transaction stops at the first')
  t.same(stopPosition(units, at('2026-12-05T15:00:00Z')), { pos: 993, reached: false }, 'a target after the file: all of it, not reached')
  t.same(stopPosition(units, 'latest'), { pos: 993, reached: false }, "'latest': the end of the last whole transaction")
  t.same(stopPosition(units, 'latest', 600), { pos: 993, reached: false }, 'from a start position')
  t.equal(stopPosition(units, 'latest', 1000), undefined, 'nothing after the start')
})

t.test('names, seqs and holes', async (t) => {
  t.equal(binlogSeq('mysql-bin.000012'), 12)
  t.equal(binlogSeq('mysql-bin.000012.seg.json'), undefined)
  t.equal(binlogSeq('mysql-bin.index'), undefined)
  t.equal(binlogName(12), 'mysql-bin.000012')
  t.equal(binlogName(1234567), 'mysql-bin.1234567')
  const f = (seq: number) => ({ name: binlogName(seq), seq, sealed: true })
  t.same(holes([f(1), f(2), f(5), f(6)]), [3, 4])
  t.same(holes([f(3)]), [])
})

t.test("the backup's binlog start from xtrabackup_info", async (t) => {
  const info = "innodb_to_lsn = 44404\nbinlog_pos = filename 'mysql-bin.000002', position '605', GTID of the last change '0-7-9'\npartial = N\n"
  t.same(binlogStart(info, '2026-12-05T14:07:23.000Z'), { archive: { seq: 2, position: 'mysql-bin.000002:605', time: '2026-12-05T14:07:23.000Z' }, gtid: '0-7-9' })
  t.equal(binlogStart('innodb_to_lsn = 1\n', 'x'), undefined, 'no binlog: no start')
  t.same(parseStart({ seq: 2, position: 'mysql-bin.000002:605', time: '' }), { file: 'mysql-bin.000002', pos: 605 })
  t.throws(() => parseStart({ seq: 2, position: '0/16B3748', time: '' }), /is not file:position/)
})

t.test('the target: whole seconds (a fraction is the rest of its second)', async (t) => {
  t.equal(targetSeconds({ time: '2026-12-05T14:08:10.999Z' }), at('2026-12-05T14:08:10Z'))
  t.equal(targetSeconds({ time: '2026-12-05T14:08:10Z' }), at('2026-12-05T14:08:10Z'))
  t.equal(targetSeconds('latest'), 'latest')
  t.throws(() => targetSeconds({ time: 'yesterday' }), /"yesterday" is not an ISO 8601 time/)
})
