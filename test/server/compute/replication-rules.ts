// Replication sets from the server's records and the peers the packet filter allows from them.
import t from 'tap'
import { peerAddresses, replicationSets } from '../../../src/server/compute/replication-rules.js'

t.test('sets are the connected components of the links', async (t) => {
  t.same(replicationSets([]), [], 'no link: no set')
  t.same(
    replicationSets([
      ['r1', 's'],
      ['r2', 's'],
      ['x1', 'y'],
      ['z', 'z'],
    ]),
    [
      ['r1', 'r2', 's'],
      ['x1', 'y'],
    ],
    'a source and its replicas; a lone self-link makes no set',
  )
  // Mid-promote: the candidate c is a source already, o still follows s; the running flow links them all.
  t.same(
    replicationSets([
      ['o', 's'],
      ['s', 'c'],
      ['s', 'o'],
    ]),
    [['c', 'o', 's']],
    'links through a flow keep the candidate in its set',
  )
  t.same(
    replicationSets([
      ['a', 'b'],
      ['c', 'd'],
      ['b', 'c'],
    ]),
    [['a', 'b', 'c', 'd']],
    'two sets joined by a later link become one',
  )
})

t.test('peers: the other members that have an address', async (t) => {
  const addr: Record<string, string> = { s: '10.0.0.2', r1: '10.0.0.3', r2: '10.0.0.4' }
  const p = peerAddresses([['r1', 'r2', 's', 'gone']], (id) => addr[id])
  t.same(p.get('s'), ['10.0.0.3', '10.0.0.4'])
  t.same(p.get('r1'), ['10.0.0.4', '10.0.0.2'])
  t.same(p.get('gone'), ['10.0.0.3', '10.0.0.4', '10.0.0.2'], 'a member without an address still gets the others')
  t.equal(p.get('outsider'), undefined, 'an instance in no set has no peer')
})
