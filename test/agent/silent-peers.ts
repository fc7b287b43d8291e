// The TCP peers the kernel retransmits to unanswered (agent/silent-peers.ts): /proc/net/tcp and tcp6 as the
// kernel writes them (a copy of this host's lines, addresses changed), IPv4, IPv4-mapped IPv6 and IPv6.
import t from 'tap'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { endpoint, SILENT_RETRANSMITS, silentPeers } from '../../src/agent/silent-peers.js'

const HEAD = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n'
const line = (sl: number, local: string, rem: string, retrnsmt: number, tr = '01:00000033') =>
  `  ${sl}: ${local} ${rem} 01 00000031:00000000 ${tr} ${retrnsmt.toString(16).toUpperCase().padStart(8, '0')}   106        0 6870551 1 00000000d4328969 20 4 30 10 -1\n`

t.test('endpoint: the kernel hex of IPv4, IPv4-mapped IPv6 and IPv6', async (t) => {
  t.equal(endpoint('0100007F:0CEA'), '127.0.0.1:3306')
  t.equal(endpoint('0A01D50A:D431'), '10.213.1.10:54321')
  t.equal(endpoint('0000000000000000FFFF00000A01D50A:D431'), '10.213.1.10:54321', 'IPv4-mapped: as IPv4')
  t.equal(endpoint('B80D0120000000000000000001000000:0050'), '[2001:db8:0:0:0:0:0:1]:80')
  t.equal(endpoint('nonsense'), undefined)
})

t.test('silentPeers: connections retransmitted to SILENT_RETRANSMITS times in a row, from both tables', async (t) => {
  const dir = t.testdir()
  mkdirSync(join(dir, 'net'))
  writeFileSync(
    join(dir, 'net', 'tcp'),
    HEAD +
      line(0, '0100D50A:0CEA', '0200D50A:9C40', 0, '00:00000000') + // a live replica: acknowledged
      line(1, '0100D50A:0CEA', '0300D50A:9C41', SILENT_RETRANSMITS - 1) + // retransmitting, not yet silent
      line(2, '0100D50A:0CEA', '0400D50A:9C42', SILENT_RETRANSMITS) + // silent
      line(3, '0100D50A:0CEA', '0500D50A:9C43', 15), // long silent
  )
  writeFileSync(join(dir, 'net', 'tcp6'), HEAD + line(0, '0000000000000000FFFF00000100D50A:0CEA', '0000000000000000FFFF00000600D50A:9C44', SILENT_RETRANSMITS))
  t.same([...(await silentPeers(join(dir, 'net')))].sort(), ['10.213.0.4:40002', '10.213.0.5:40003', '10.213.0.6:40004'])
  t.same([...(await silentPeers(join(dir, 'missing')))], [], 'no table: nobody silent (the engine alone decides)')
})
