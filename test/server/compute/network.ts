// The lab network and its firewall against the real tools: network namespaces, the CNI bridge and
// host-local plugins, nftables. Two instances on one lab bridge, each with a TCP server; what reaches
// what under each rule set; and that detach and destroy leave nothing behind.
import t, { type Test } from 'tap'
import { execFileSync, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { connect, createServer, type Server } from 'node:net'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import {
  attachInstance,
  bridgeName,
  claimSubnet,
  DEFAULT_CLAIM_DIR,
  destroyLabNetwork,
  detachInstance,
  ensureLabNetwork,
  releaseSubnet,
  subnetsOf,
  sweepNetwork,
  type Attachment,
  type LabNetwork,
} from '../../../src/server/compute/network.js'
import { applyFirewall, blockedCount, firewallPresent, firewallScript, removeFirewall, tableName, type FirewallRules } from '../../../src/server/compute/firewall.js'
import { labIdOf, sweepOrphanLabs } from '../../../src/server/compute/sandbox-host.js'
import { runTool } from '../../../src/server/compute/tool.js'

const has = (f: string, args: string[]) => {
  try {
    execFileSync(f, args, { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

t.test('subnets and claims (no privilege needed)', async (t) => {
  t.same(subnetsOf('10.213.0.0/22').length, 4)
  t.throws(() => subnetsOf('10.213.0.0/25'), /network range must be an IPv4 CIDR from \/8 to \/24/)
  const dir = mkdtempSync('/tmp/tv-claims.')
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const live = mkdtempSync('/tmp/tv-owner.')
  t.teardown(() => rmSync(live, { recursive: true, force: true }))
  t.ok(claimSubnet(dir, '10.9.1.0/24', live), 'a free subnet is claimed')
  t.ok(claimSubnet(dir, '10.9.1.0/24', live), 'its owner claims it again')
  t.notOk(claimSubnet(dir, '10.9.1.0/24', '/tmp/another-lab'), 'a live owner keeps it')
  writeFileSync(join(dir, '10.9.2.0_24'), '/nonexistent/crashed-lab')
  t.ok(claimSubnet(dir, '10.9.2.0/24', live), 'a stale claim (owner directory gone) is taken over')
  releaseSubnet(dir, '10.9.1.0/24', '/tmp/another-lab')
  t.ok(existsSync(join(dir, '10.9.1.0_24')), 'only its owner releases a claim')
  releaseSubnet(dir, '10.9.1.0/24', live)
  t.notOk(existsSync(join(dir, '10.9.1.0_24')))
})

const missing = [
  process.getuid?.() !== 0 && 'root',
  !has('ip', ['-V']) && 'ip (iproute2)',
  !has('nft', ['--version']) && 'nft (nftables)',
  !existsSync('/usr/lib/cni/bridge') && '/usr/lib/cni/bridge (containernetworking-plugins)',
].filter(Boolean)

/** One node process per namespace (spawning one per connection costs ~0.5 s here): a TCP server answering
 * its name, on a port the kernel picks, and a client dialling on request (one JSON line per dial on stdin,
 * one JSON line per answer on stdout: `got <name>` or the error code). */
const HELPER = `const net=require('net');const open=new Map();
const s=net.createServer(c=>c.end(process.argv[1]));s.listen(0,'0.0.0.0',()=>console.log(JSON.stringify({port:s.address().port})));
require('readline').createInterface({input:process.stdin}).on('line',l=>{const q=JSON.parse(l);
if(q.cancel){open.get(q.cancel)?.destroy();return}
const c=net.connect({host:q.host,port:q.port,localAddress:q.localAddress});open.set(q.id,c);let d='';
c.on('data',b=>d+=b);c.on('end',()=>console.log(JSON.stringify({id:q.id,out:'got '+d})));
c.on('error',e=>console.log(JSON.stringify({id:q.id,out:e.code})))})`

interface Dial {
  out: Promise<string>
  cancel(): void
}

interface Helper {
  port: number
  dial(host: string, port: number, localAddress?: string): Dial
}

async function helperIn(t: Test, netns: string, name: string): Promise<Helper> {
  const child = spawn('ip', ['netns', 'exec', netns, process.execPath, '-e', HELPER, name], { stdio: ['pipe', 'pipe', 'inherit'] })
  t.teardown(() => {
    child.kill()
  })
  const waiting = new Map<number, (out: string) => void>()
  let ready: (port: number) => void
  const port = new Promise<number>((resolve, reject) => {
    ready = resolve
    child.once('exit', (c) => reject(new Error(`helper in ${netns} exited ${c}`)))
  })
  createInterface({ input: child.stdout! }).on('line', (l) => {
    const m = JSON.parse(l) as { port?: number; id?: number; out?: string }
    if (m.port) ready(m.port)
    else waiting.get(m.id!)?.(m.out!)
  })
  let next = 0
  return {
    port: await port,
    dial(host, p, localAddress) {
      const id = ++next
      const out = new Promise<string>((resolve) => waiting.set(id, resolve))
      child.stdin!.write(`${JSON.stringify({ id, host, port: p, localAddress })}\n`)
      return { out, cancel: () => child.stdin!.write(`${JSON.stringify({ cancel: id })}\n`) }
    },
  }
}

/** A connection from the host. */
function dialHost(host: string, port: number): Dial {
  const c = connect({ host, port })
  let d = ''
  const out = new Promise<string>((resolve) => {
    c.on('data', (b) => (d += b))
    c.on('end', () => resolve(`got ${d}`))
    c.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message))
  })
  return { out, cancel: () => c.destroy() }
}

async function waitFor(what: string, cond: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const end = Date.now() + ms
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await sleep(20)
  }
}

t.test('two instances on a lab bridge, filtered', { skip: missing.length ? `needs ${missing.join(', ')}` : false }, async (t) => {
  const run = randomBytes(4).toString('hex')
  const dir = mkdtempSync('/tmp/tv-net.')
  const labId = `t${run}`
  let lab: LabNetwork | undefined
  const ids = [`a${run}`, `b${run}`, `c${run}`, `d${run}`]
  t.teardown(async () => {
    if (lab) {
      await removeFirewall(lab).catch(() => {})
      await destroyLabNetwork(lab).catch(() => {})
    }
    for (const id of ids) await runTool('ip', ['netns', 'del', `trove-${id}`]).catch(() => {})
    await runTool('ip', ['link', 'del', `trovebr-${labId.slice(0, 7)}`]).catch(() => {})
    rmSync(dir, { recursive: true, force: true })
  })

  lab = await ensureLabNetwork({ labId, dir })
  const l = lab
  t.match(l.bridge, /^trovebr-t[0-9a-f]{6}$/)
  t.match(l.subnet, /^10\.213\.\d+\.0\/24$/)
  t.same(await ensureLabNetwork({ labId, dir }), l, 'ensure is idempotent')
  const dir2 = mkdtempSync('/tmp/tv-net2.')
  t.teardown(() => rmSync(dir2, { recursive: true, force: true }))
  await t.rejects(ensureLabNetwork({ labId: `${labId}other`, dir: dir2 }), { message: `lab network: a link named ${l.bridge} exists already (another lab's?)` })
  t.match(execFileSync('ip', ['-4', 'addr', 'show', 'dev', l.bridge]).toString(), `inet ${l.gateway}/24`, 'the gateway is on the bridge')
  // The gateway's MAC stays what the instances learnt: a bridge left to itself takes its lowest port's.
  const mac = () => readFileSync(`/sys/class/net/${l.bridge}/address`, 'utf8').trim()
  const pinned = mac()
  t.equal(readFileSync(`/sys/class/net/${l.bridge}/addr_assign_type`, 'utf8').trim(), '3', "the bridge's address is set (NET_ADDR_SET), not its ports'")
  const low = `tvl${run}`
  t.teardown(() => runTool('ip', ['link', 'del', low]).catch(() => {}))
  await runTool('ip', ['link', 'add', low, 'address', '02:00:00:00:00:00', 'type', 'veth', 'peer', 'name', `tvm${run}`])
  await runTool('ip', ['link', 'set', low, 'master', l.bridge])
  t.equal(mac(), pinned, 'a port with a lower MAC joining does not change it')
  await runTool('ip', ['link', 'del', low])
  const claimFile = join(DEFAULT_CLAIM_DIR, l.subnet.replace('/', '_'))
  t.ok(existsSync(claimFile), 'the subnet is claimed machine-wide')
  // A host reboot empties /run: the claim is made again at the next start, unless another live lab took it.
  rmSync(claimFile)
  t.same(await ensureLabNetwork({ labId, dir }), l, 'ensured again after the claim was lost')
  t.equal(readFileSync(claimFile, 'utf8'), dir, 'the subnet is claimed again')
  writeFileSync(claimFile, dir2)
  await t.rejects(ensureLabNetwork({ labId, dir }), { message: new RegExp(`^lab network: the lab's subnet ${l.subnet.replace(/\./g, '\\.')} is claimed by another lab`) })
  writeFileSync(claimFile, dir)

  const t0 = performance.now()
  const a = await attachInstance(l, ids[0]!)
  const t1 = performance.now()
  let b = await attachInstance(l, ids[1]!)
  t.comment(`attach: ${(t1 - t0).toFixed(0)} ms, ${(performance.now() - t1).toFixed(0)} ms`)
  t.same(await attachInstance(l, ids[0]!), a, 'attach is idempotent')
  t.not(a.address, b.address)
  // After a reboot (its namespace gone) it is attached again with the address it had.
  await runTool('ip', ['netns', 'del', b.netns])
  const b2 = await attachInstance(l, ids[1]!, b.address)
  t.equal(b2.address, b.address, 'the same address again after its namespace was lost')
  t.ok(existsSync(b2.netnsPath), 'in a new namespace')
  await t.rejects(attachInstance(l, ids[2]!, '10.0.0.1; x'), /not an IPv4 address/, 'an address is validated before CNI sees it')
  b = b2
  for (const x of [a, b]) {
    const routes = JSON.parse(execFileSync('ip', ['-n', x.netns, '-j', '-4', 'route']).toString()) as { dst: string }[]
    t.same(
      routes.map((r) => r.dst),
      [l.subnet],
      `${x.netns}: only the lab subnet is routed`,
    )
    t.throws(() => execFileSync('ip', ['-n', x.netns, 'route', 'get', '1.1.1.1'], { stdio: 'pipe' }), 'nothing routes off the host')
  }

  const ha = await helperIn(t, a.netns, 'A')
  const hb = await helperIn(t, b.netns, 'B')
  const [pa, pb] = [ha.port, hb.port]
  const helpers = new Map<Attachment, Helper>([
    [a, ha],
    [b, hb],
  ])
  const dial = (from: Attachment | null, to: string, port: number, localAddress?: string) => (from ? helpers.get(from)!.dial(to, port, localAddress) : dialHost(to, port))
  const hostServer = (name: string) =>
    new Promise<Server>((resolve) => {
      const s = createServer((c) => c.end(name)).listen(0, l.gateway, () => resolve(s))
      t.teardown(() => s.close())
    })
  const broker = await hostServer('broker')
  const other = await hostServer('other')
  const portOf = (s: Server) => (s.address() as { port: number }).port

  const reaches = async (from: Attachment | null, to: string, port: number, name: string, localAddress?: string) =>
    t.equal(await dial(from, to, port, localAddress).out, `got ${name}`, `${from?.netns ?? 'host'} reaches ${name}`)
  /** A blocked connection: its SYN is counted by the drop rule, and no answer comes. */
  const blocked = async (from: Attachment, to: string, port: number, what: string, localAddress?: string) => {
    const before = await blockedCount(l)
    const d = dial(from, to, port, localAddress)
    let done = ''
    void d.out.then((o) => (done = o || 'exited'))
    await waitFor(`a dropped SYN (${what})`, async () => done !== '' || (await blockedCount(l)) > before)
    t.equal(done, '', `${what}: dropped, no answer`)
    d.cancel()
  }
  const rules = (bAllowed: string[], bPeers: string[]): FirewallRules => ({
    instances: [
      { address: a.address, hostIf: a.hostIf, ports: [pa], allowedCidrs: [`${l.gateway}/32`], peers: [] },
      { address: b.address, hostIf: b.hostIf, ports: [pb], allowedCidrs: bAllowed, peers: bPeers },
    ],
    hostPorts: [portOf(broker)],
  })

  const f0 = performance.now()
  await applyFirewall(l, rules([], []))
  t.comment(`firewall apply (2 instances): ${(performance.now() - f0).toFixed(0)} ms`)
  await reaches(null, a.address, pa, 'A')
  await reaches(null, b.address, pb, 'B')
  await blocked(a, b.address, pb, 'A to B (B has no allowed CIDRs: the host only)')
  await applyFirewall(l, rules(['0.0.0.0/0'], []))
  await reaches(a, b.address, pb, 'B') // B public (is_public: 0.0.0.0/0)
  await blocked(b, a.address, pa, 'B to A (A allows the host only)')
  await reaches(a, l.gateway, portOf(broker), 'broker')
  t.equal(await dial(a, l.gateway, portOf(other)).out, 'ECONNREFUSED', 'an instance reaches no other host port')

  await applyFirewall(l, rules([`${l.gateway}/32`], []))
  await blocked(a, b.address, pb, 'A to B (B allows the host only)')
  await reaches(null, b.address, pb, 'B')

  await applyFirewall(l, rules([`${l.gateway}/32`], [a.address]))
  await reaches(a, b.address, pb, 'B') // A is B's replication peer
  const bad = { ...rules([], []), hostPorts: [0] }
  await t.rejects(applyFirewall(l, bad), /^firewall: not a port: 0$/)
  await reaches(a, b.address, pb, 'B') // the rules in place are unchanged
  // A script the kernel refuses half-way (it would first delete the tables, then block A): nothing of it applies.
  const refused = `${firewallScript(l, rules([`${l.gateway}/32`], []))}add rule bridge ${labId}nosuch between drop\n`
  await t.rejects(runTool('nft', ['-f', '-'], { input: refused }), /^nft: [^\n]+$/, 'a tool failure is one line naming the tool')
  t.ok(await firewallPresent(l), 'the tables are still there')
  await reaches(a, b.address, pb, 'B') // and the rules in them too
  await applyFirewall(l, rules([l.subnet, `${l.gateway}/32`, `${a.address}/32`], []))
  await reaches(a, b.address, pb, 'B') // overlapping allowed CIDRs are merged
  // B's other peer (an address no instance holds yet): A takes it on its interface and dials from it.
  const forged = l.subnet.replace(/0\/24$/, '250')
  await applyFirewall(l, rules([`${l.gateway}/32`], [forged]))
  execFileSync('ip', ['-n', a.netns, 'addr', 'add', `${forged}/24`, 'dev', 'eth0'])
  await blocked(a, b.address, pb, "A forging a peer's address", forged)

  await t.rejects(attachInstance({ ...l, cniPath: join(dir, 'no-cni') }, ids[2]!), /^cni bridge ADD: .+$/)
  t.notOk(existsSync(`/run/netns/trove-${ids[2]}`), 'a failed attach leaves no namespace')

  const c = await attachInstance(l, ids[2]!)
  // A crash after the namespace was made, before CNI ADD: a record without an address, and the namespace.
  const d = { instanceId: ids[3]!, netns: `trove-${ids[3]}`, netnsPath: `/run/netns/trove-${ids[3]}`, address: '', hostIf: '' }
  writeFileSync(join(dir, 'network', 'instances', `${ids[3]}.json`), JSON.stringify(d))
  execFileSync('ip', ['netns', 'add', d.netns])
  t.same(await sweepNetwork(l, new Set([ids[0]!, ids[1]!])), [c.netns, d.netns].sort(), 'sweep removes what is not kept')
  t.notOk(existsSync(c.netnsPath) || existsSync(d.netnsPath), 'their namespaces are gone')

  const links = () => JSON.parse(execFileSync('ip', ['-j', 'link']).toString()).map((x: { ifname: string }) => x.ifname) as string[]
  const d0 = performance.now()
  await detachInstance(l, ids[0]!)
  t.comment(`detach: ${(performance.now() - d0).toFixed(0)} ms`)
  await detachInstance(l, ids[0]!) // idempotent
  t.notOk(existsSync(a.netnsPath), 'no namespace left')
  t.notOk(links().includes(a.hostIf), 'no veth left')
  const leaseDir = join(dir, 'network', 'leases')
  const leases = () =>
    readdirSync(leaseDir, { recursive: true })
      .map(String)
      .filter((f) => /\d+\.\d+\.\d+\.\d+$/.test(f))
  t.same(
    leases().map((f) => f.split('/').pop()),
    [b.address],
    'only B holds a lease',
  )

  await removeFirewall(l)
  await removeFirewall(l) // idempotent
  await destroyLabNetwork(l)
  await destroyLabNetwork(l) // idempotent
  t.notOk(await firewallPresent(l), 'no nft table left')
  t.notOk(existsSync(b.netnsPath), 'no namespace left')
  t.notOk(
    links().some((n) => n === l.bridge || n === b.hostIf),
    'no bridge or veth left',
  )
  t.notOk(existsSync(claimFile), 'the claim is released')
  t.notOk(existsSync(join(dir, 'network')), 'no leases or records left')
})

t.test("a lab whose data dir is gone: the next lab's start sweeps its bridge, packet filter and claim", { skip: missing.length ? `needs ${missing.join(', ')}` : false }, async (t) => {
  const claimDir = mkdtempSync('/tmp/tv-claims.')
  const live = mkdtempSync('/tmp/tv-live.')
  const gone = `${live}-gone` // never made: as a lab dir removed without a reset
  t.teardown(() => rmSync(claimDir, { recursive: true, force: true }))
  t.teardown(() => rmSync(live, { recursive: true, force: true }))
  const [goneId, liveId] = [labIdOf(gone), labIdOf(live)]
  for (const id of [goneId, liveId]) {
    t.teardown(() => runTool('ip', ['link', 'del', bridgeName(id)]).catch(() => {}))
    t.teardown(() => removeFirewall({ labId: id }).catch(() => {}))
    await runTool('ip', ['link', 'add', 'name', bridgeName(id), 'type', 'bridge'])
    await runTool('nft', ['-f', '-'], { input: `table inet ${tableName(id)} { }\ntable bridge ${tableName(id)} { }\n` })
  }
  t.ok(claimSubnet(claimDir, '10.9.3.0/24', gone) && claimSubnet(claimDir, '10.9.4.0/24', live), 'both claimed')
  t.same(await sweepOrphanLabs(claimDir), [goneId], 'the lab whose dir is gone')
  t.notOk(existsSync(join(claimDir, '10.9.3.0_24')), 'its claim released')
  t.notOk(has('ip', ['link', 'show', 'dev', bridgeName(goneId)]), 'its bridge removed')
  t.notOk(await firewallPresent({ labId: goneId }), 'its packet filter removed')
  t.equal(readFileSync(join(claimDir, '10.9.4.0_24'), 'utf8'), live, "the live lab's claim kept")
  t.ok(has('ip', ['link', 'show', 'dev', bridgeName(liveId)]), 'and its bridge')
  t.ok(await firewallPresent({ labId: liveId }), 'and its packet filter')
  t.same(await sweepOrphanLabs(claimDir), [], 'nothing more the second time')
})
