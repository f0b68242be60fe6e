// Hung, not dead (issue 27): processes frozen by SIGSTOP and woken by SIGCONT, as a GC or VM pause,
// CPU throttling or a debugger does. A frozen bridge node is noticed by its servers and clients
// through the Socket.IO heartbeat, well inside the lease: they move to another node and nothing is
// recovered. A frozen game server loses its areas (after the bridge notices and the grace passes),
// and once woken applies nothing of what was still in its socket: its SDK holds every event until
// the bridge confirms its lease, which never comes for a session that is over. Every journaled input
// is audited with the chaos suite's rule: once each, in order, nothing rolled back.
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { expect } from 'chai';
import { auditAll, parseJournal } from '../chaos/audit.js';
import { ReferenceServer, type JournalEntry } from '../gameserver-stub/reference-server.js';
import { MeshClient } from '../client-sdk/index.js';
import { Mesh, NETWORK_SECRET, RedisServer, sleep, waitFor } from './harness.js';
import { sharedRedis } from './setup.js';
import { steady } from './helpers.js';

const freeze = (child: ChildProcess, frozen: boolean) => child.kill(frozen ? 'SIGSTOP' : 'SIGCONT');

describe('frozen processes (SIGSTOP, then SIGCONT): nothing lost, nothing applied twice', () => {
  let mesh: Mesh;
  const frozen: ChildProcess[] = [];
  beforeEach(() => { mesh = new Mesh(sharedRedis()); });
  afterEach(async () => {
    for (const c of frozen.splice(0)) freeze(c, false); // never leave a stopped process behind
    await mesh.close();
  });

  it('a game server frozen past its grace: recovered elsewhere, and once woken it applies nothing stale', async function () {
    this.timeout(30_000);
    // Heartbeat from the lease: a ping every 600 ms, closed 1,200 ms without a pong; recovered 500 ms after.
    const node = await mesh.addBridge({ serverLeaseMs: 3000, serverReconnectGraceMs: 500, leaseCheckMs: 100 });
    const files = { s1: join(tmpdir(), `${mesh.world}-s1.journal`), s2: join(tmpdir(), `${mesh.world}-s2.journal`) };
    const s1 = await mesh.spawnServer(node, 's1', ['--journal', files.s1, '--snapshot-ms', '300']);
    await mesh.spawnServer(node, 's2', ['--journal', files.s2, '--snapshot-ms', '300']);
    await node.testHook.assignArea('0,0', 's1');
    const clients = await Promise.all(['f1', 'f2'].map((p) => mesh.addClient(node, p, { maxUnacked: 100_000 })));
    const stop = steady(clients);
    await waitFor(() => clients.every((c) => c.ack > 20), 5000, 'served by s1');
    frozen.push(s1);
    freeze(s1, true);
    await waitFor(() => node.testHook.cache.areas.get('0,0')?.server === 's2', 10_000, 'the frozen server\'s area recovered onto s2');
    freeze(s1, false);
    const wokeAt = Date.now();
    await sleep(1500);
    await stop();
    await waitFor(() => clients.every((c) => c.pending === 0), 10_000, 'every input acknowledged');
    const s1Journal = parseJournal(readFileSync(files.s1, 'utf8'));
    const events = [...s1Journal, ...parseJournal(readFileSync(files.s2, 'utf8'))];
    const audits = auditAll(events, new Map(clients.map((c) => [c.player!, c.ack])));
    expect(audits.flatMap((a) => a.violations)).to.deep.equal([]);
    expect(audits.reduce((n, a) => n + a.rolledBack, 0), 'rolled back and not applied again').to.equal(0);
    expect(s1Journal.filter((e) => e.kind === 'apply' && e.at >= wokeAt), 'applied by the woken server').to.deep.equal([]);
    // What was still in its socket was dropped unapplied: by Node's engine.io-client, whose own ping timer
    // usually fires first on waking, else by the SDK's lease gate (journal `S` lines).
    const dropped = readFileSync(files.s1, 'utf8').split('\n').filter((l) => l.startsWith('S '))
      .reduce((n, l) => n + Number(l.split(' ')[3]), 0);
    console.log(`      woken after its area was recovered: nothing applied (${dropped} held events dropped by the lease gate); `
      + `${audits.reduce((n, a) => n + a.applied, 0)} applications audited, 0 duplicated, 0 lost`);
  });

  it('a server whose lease cannot be renewed (Redis frozen past it) holds its inputs, then applies them in order', async function () {
    this.timeout(30_000);
    const redis = await RedisServer.start();
    const own = new Mesh(redis);
    try {
      const node = await own.addBridge({ serverLeaseMs: 1500, leaseCheckMs: 100 });
      const journal: JournalEntry[] = [];
      const s1 = await own.addServer(node, 's1', { journal, loadIntervalMs: 300 });
      const alice = await own.addClient(node, 'alice', { maxUnacked: 100_000 });
      const stop = steady([alice]);
      await waitFor(() => alice.ack > 20, 5000, 'served');
      process.kill(redis.pid!, 'SIGSTOP');
      const frozenAt = performance.now();
      let held = 0;
      await waitFor(() => (held = Math.max(held, s1.sdk.heldEvents)) > 10, 5000, 'inputs held by the server, unapplied')
        .finally(() => process.kill(redis.pid!, 'SIGCONT'));
      const wokeAt = performance.now();
      await stop();
      await waitFor(() => alice.pending === 0, 10_000, 'every input acknowledged');
      const seqs = journal.filter((e) => e.player === 'alice').map((e) => e.seq);
      expect(seqs, 'once each, in order').to.deep.equal(Array.from({ length: alice.ack }, (_, i) => i + 1));
      // Positive control: inputs did arrive while Redis was frozen, and they were applied once it was back.
      const after = journal.filter((e) => e.at >= wokeAt).length;
      expect(after).to.be.greaterThan(10);
      const ms = (wokeAt - frozenAt).toFixed(0);
      console.log(`      Redis frozen ${ms} ms: the server held ${held} events unapplied, then applied them in order`);
    } finally {
      await own.close();
      await redis.stop();
    }
  });

  it('a bridge node frozen longer than the lease: its server and clients move to another node; nothing is recovered', async function () {
    this.timeout(30_000);
    const env = { MESHBRIDGE_SERVER_LEASE_MS: '3000', MESHBRIDGE_LEASE_CHECK_MS: '100', MESHBRIDGE_NODE_HEARTBEAT_MS: '200' };
    const n1 = await mesh.spawnBridge('n1', env);
    const n2 = await mesh.addBridge({ serverLeaseMs: 3000, leaseCheckMs: 100 });
    const journal: JournalEntry[] = [];
    const attaches: { resync?: boolean }[] = [];
    const s1 = new ReferenceServer({
      url: [n1.url, mesh.url(n2)], serverId: 's1', secret: NETWORK_SECRET, power: 1, tickHz: 20, journal, snapshotMs: 300,
    });
    mesh.servers.push(s1);
    await s1.start();
    s1.sdk.on('attach', (a) => attaches.push(a));
    await n2.testHook.assignArea('0,0', 's1');
    const welcomes: number[] = [];
    s1.sdk.on('welcome', () => welcomes.push(performance.now()));
    const epoch = s1.sdk.epoch;
    const alice = new MeshClient({ urls: [n1.url, mesh.url(n2)], token: await mesh.token('alice'), maxUnacked: 100_000 });
    mesh.clients.push(alice);
    await alice.connect();
    const bob = await mesh.addClient(n2, 'bob', { maxUnacked: 100_000 });
    const stop = steady([alice, bob]);
    await waitFor(() => alice.ack > 20 && bob.ack > 20, 5000, 'served');
    frozen.push(n1.child);
    freeze(n1.child, true);
    const frozenAt = performance.now();
    await sleep(4000); // longer than the lease
    freeze(n1.child, false);
    await sleep(1000);
    await stop();
    await waitFor(() => alice.pending === 0 && bob.pending === 0, 10_000, 'every input acknowledged');
    expect(welcomes.length, 'the server moved to the other node once').to.equal(1);
    const movedAfter = welcomes[0]! - frozenAt;
    // It kept its session (one reconnect, no FENCED, no registration afresh) and its area; no player was recovered.
    expect(s1.sdk.epoch).to.equal(epoch + 1);
    expect(n2.testHook.cache.areas.get('0,0')?.server).to.equal('s1');
    expect(attaches.filter((a) => a.resync)).to.deep.equal([]);
    for (const c of [alice, bob]) {
      expect(journal.filter((e) => e.player === c.player).map((e) => e.seq), `${c.player}: once each, in order`)
        .to.deep.equal(Array.from({ length: c.ack }, (_, i) => i + 1));
    }
    console.log(`      server on the other node ${movedAfter.toFixed(0)} ms after the freeze (lease 3000 ms); `
      + `${alice.ack + bob.ack} inputs, each applied once`);
  });
});
