// The firewall's rule script, without privilege: what it is made of and what it refuses before nft
// runs. What the rules do to real traffic is proven in network.ts (two instances on a lab bridge).
import t from 'tap'
import { firewallScript, tableName } from '../../../src/server/compute/firewall.js'

t.test('table names', async (t) => {
  t.equal(tableName('4F2a-77c1-9e00'), 'trove_4f2a77c19e00')
  t.throws(() => tableName('--'), /a lab id needs letters or digits/)
})

t.test('firewall script: values validated before anything runs', async (t) => {
  const lab = { labId: 'x1', bridge: 'trovebr-x1', subnet: '10.213.4.0/24', gateway: '10.213.4.1' }
  const ok = { address: '10.213.4.2', hostIf: 'veth1', ports: [5432], allowedCidrs: [], peers: [] }
  t.match(
    firewallScript(lab, { instances: [ok], hostPorts: [1883] }),
    /set allow_0 \{ type ipv4_addr; flags interval; auto-merge; \}/,
    'empty allowed_cidrs: no source of the lab (the host is not filtered)',
  )
  const peers = firewallScript(lab, {
    instances: [
      { ...ok, peers: ['10.213.4.3'] },
      { ...ok, address: '10.213.4.3', hostIf: 'veth2', ports: [5432], peers: ['10.213.4.2'] },
    ],
    hostPorts: [],
  })
  t.match(
    peers,
    /set replication \{ type ipv4_addr \. ipv4_addr \. inet_service; elements = \{ 10\.213\.4\.3 \. 10\.213\.4\.2 \. 5432, 10\.213\.4\.2 \. 10\.213\.4\.3 \. 5432 \}; \}/,
    "a replication set's members: each to the other's engine port",
  )
  t.match(peers, /ip saddr \. ip daddr \. tcp dport @replication accept/, 'one lookup for every set')
  t.notMatch(firewallScript(lab, { instances: [ok], hostPorts: [] }), /elements = \{[^}]* \. /, 'no replication set: no element')
  t.throws(() => firewallScript(lab, { instances: [{ ...ok, allowedCidrs: ['10.0.0.0/33'] }], hostPorts: [] }), /^firewall: not an IPv4 CIDR: "10\.0\.0\.0\/33"$/)
  t.throws(() => firewallScript(lab, { instances: [{ ...ok, peers: ['1.2.3.4; flush ruleset'] }], hostPorts: [] }), /^firewall: not an IPv4 address/)
  t.throws(() => firewallScript(lab, { instances: [{ ...ok, hostIf: 'a"b' }], hostPorts: [] }), /^firewall: not an interface name/)
  t.throws(() => firewallScript(lab, { instances: [ok], hostPorts: [70000] }), /^firewall: not a port: 70000$/)
})

t.test('firewall script: a partitioned instance (faults.ts) is cut off both ways, the host included, and no other', async (t) => {
  const lab = { labId: 'x1', bridge: 'trovebr-x1', subnet: '10.213.4.0/24', gateway: '10.213.4.1' }
  const a = { address: '10.213.4.2', hostIf: 'veth1', ports: [5432], allowedCidrs: [], peers: [] }
  const b = { ...a, address: '10.213.4.3', hostIf: 'veth2' }
  const none = firewallScript(lab, { instances: [a, b], hostPorts: [] })
  t.match(none, /set partitioned \{ type ifname; \}/, 'no fault: an empty set')
  const cut = firewallScript(lab, { instances: [a, { ...b, partitioned: true }], hostPorts: [] })
  t.match(cut, /set partitioned \{ type ifname; elements = \{ "veth2" \}; \}/, 'only the partitioned port is in the set')
  // Every hook that sees its frames drops them first: between instances, to the host, from the host.
  for (const chain of ['between', 'to_host', 'from_host']) {
    const body = new RegExp(`chain ${chain} \\{\\n    type filter hook \\w+ priority 0; policy accept;\\n    [io]ifname @partitioned drop\\n`)
    t.match(cut, body, `${chain}: the partitioned port dropped before any accept`)
  }
  t.match(cut, /chain from_host \{\n {4}type filter hook output priority 0; policy accept;\n {4}oifname @partitioned drop\n/, "the host's own frames to it")
})
