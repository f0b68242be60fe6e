import { expect } from 'chai';
import { PROTOCOL_VERSION, SERVER_NAMESPACE } from '../shared/protocol.js';
import { Mesh, NETWORK_SECRET, sleep, waitFor } from './harness.js';
import { firstStateFrom, handshakeOutcome, range, rawSocket } from './helpers.js';
import { sharedRedis } from './setup.js';

describe('failover', () => {
  let mesh: Mesh;
  beforeEach(() => { mesh = new Mesh(sharedRedis()); });
  afterEach(() => mesh.close());

  it('a bridge node stops: its clients resume on another node without a lost or duplicated input', async function () {
    this.timeout(30_000);
    const [a, b] = [await mesh.addBridge(), await mesh.addBridge()];
    const s1 = await mesh.addServer(b, 's1');
    const clients = await Promise.all(['alice', 'bob', 'carol'].map((p) => mesh.addClient([a, b], p)));
    expect(clients.map((c) => c.session?.node)).to.deep.equal([a.id, a.id, a.id]);
    const perClient = 600;
    const sender = (async () => {
      for (let i = 0; i < perClient; i++) {
        for (const c of clients) c.send({ dx: 1, dy: 0 });
        if (i % 20 === 0) await sleep(2);
      }
    })();
    await waitFor(() => (s1.applied.get('alice')?.length ?? 0) > 150, 5000, 'traffic flowing');
    await a.close();
    await sender;
    await waitFor(() => clients.every((c) => c.ack === perClient), 15_000, 'every input acked after failover');
    for (const c of clients) {
      expect(c.session?.node).to.equal(b.id);
      expect(s1.applied.get(c.player!)).to.deep.equal(range(1, perClient));
    }
  });

  it('a node that stops for good: its sessions that do not resume elsewhere are ended after the grace period', async function () {
    this.timeout(20_000);
    const opts = { sessionGraceMs: 500, leaseCheckMs: 200 };
    const [a, b] = [await mesh.addBridge(opts), await mesh.addBridge(opts)];
    const s1 = await mesh.addServer(b, 's1');
    const left: string[] = [];
    s1.sdk.on('presence', (p) => { if (p.status === 'left') left.push(p.player); });
    const gone = await mesh.addClient(a, 'gone');       // knows only node A: cannot resume
    const stays = await mesh.addClient([a, b], 'stays'); // fails over to B
    for (const c of [gone, stays]) for (let i = 0; i < 5; i++) c.send({ dx: 1 });
    await waitFor(() => gone.ack === 5 && stays.ack === 5, 3000, 'served');
    await a.close();
    await waitFor(() => stays.session?.node === b.id, 5000, 'stays resumed on B');
    await waitFor(() => !s1.sdk.players.has('gone'), 8000, 'gone detached from its server');
    const rec = (await b.testHook.map.loadPlayers(['gone', 'stays']));
    expect(rec.get('gone')).to.include({ server: '', session: '', area: '0,0', seq: 5 }, 'ended, keeping its last area and seq');
    expect(rec.get('stays')).to.include({ server: 's1', node: b.id });
    expect(s1.sdk.players.has('stays')).to.equal(true);
    expect(left).to.deep.equal(['gone']);
  });

  it('a game server reconnects: the bridge keeps its players and delivers each input once', async function () {
    this.timeout(20_000);
    const [a, b] = [await mesh.addBridge(), await mesh.addBridge()];
    const s1 = await mesh.addServer(b, 's1');
    const alice = await mesh.addClient(a, 'alice');
    for (let i = 0; i < 50; i++) alice.send({ dx: 1 });
    await waitFor(() => alice.ack === 50, 3000, 'first 50');
    // Drop the server's transport; socket.io-client reconnects with its players in the handshake.
    (s1.sdk as unknown as { socket: { io: { engine: { close(): void } } } }).socket.io.engine.close();
    for (let i = 0; i < 50; i++) alice.send({ dx: 1 });
    await waitFor(() => alice.ack === 100, 10_000, 'next 50 after the reconnect');
    expect(s1.applied.get('alice')).to.deep.equal(range(1, 100));
    expect(b.testHook.cache.servers.get('s1')?.epoch).to.equal(2);
  });

  it('a second connection with the same server id fences the first', async () => {
    const [a, b] = [await mesh.addBridge(), await mesh.addBridge()];
    const first = await mesh.addServer(a, 's1');
    const codes: string[] = [];
    first.sdk.on('bridge-error', (e) => codes.push(e.code));
    const second = await mesh.addServer(b, 's1');
    await waitFor(() => codes.includes('SESSION_REPLACED'), 3000, 'first link fenced');
    await sleep(300);
    expect(first.sdk.connected).to.equal(false, 'a fenced server does not come back');
    expect(a.testHook.linkEpoch('s1')).to.equal(undefined);
    expect(b.testHook.linkEpoch('s1')).to.equal(2);
    expect(second.sdk.epoch).to.equal(2);
  });

  it('a player connecting again elsewhere replaces the older session', async () => {
    const [a, b] = [await mesh.addBridge(), await mesh.addBridge()];
    await mesh.addServer(a, 's1');
    const first = await mesh.addClient(a, 'alice');
    const codes: string[] = [];
    first.on('error', (e) => codes.push(e.code));
    const second = await mesh.addClient(b, 'alice');
    await waitFor(() => codes.includes('SESSION_REPLACED'), 3000, 'old session told');
    await sleep(300);
    expect(first.connected).to.equal(false, 'a replaced session does not come back');
    expect(a.testHook.sessionId('alice')).to.equal(undefined);
    expect(b.testHook.sessionId('alice')).to.be.a('string');
    second.send({ dx: 1 });
    await waitFor(() => second.ack === 1, 3000, 'new session served');
  });

  it('a server process killed is recovered once its reconnect grace passes, well before its lease would run out', async function () {
    this.timeout(20_000);
    const opts = { worldCols: 2, worldRows: 1 }; // defaults: lease 5000 ms, reconnect grace 1000 ms
    const [a, b] = [await mesh.addBridge(opts), await mesh.addBridge(opts)];
    const doomed = await mesh.spawnServer(a, 'doomed');
    const clients = await Promise.all(['alice', 'bob'].map((p) => mesh.addClient([a, b], p)));
    expect(clients.map((c) => c.session?.server)).to.deep.equal(['doomed', 'doomed']);
    await mesh.addServer(b, 'survivor');
    const served = clients.map((c) => firstStateFrom(c, a.testHook.cache, 'survivor'));
    const killed = performance.now();
    doomed.kill('SIGKILL');
    const after = (await Promise.all(served)).map((t) => t - killed);
    console.log(`      served by the survivor ${Math.round(Math.max(...after))} ms after the kill (grace 1000, lease 5000)`);
    expect(Math.max(...after)).to.be.below(4000, 'recovered by the grace, not the 5 s lease');
    expect(Math.min(...after)).to.be.above(1000, 'not before the grace passed');
  });

  it('a server that comes back after its recovery started is fenced and registers afresh', async function () {
    this.timeout(20_000);
    const node = await mesh.addBridge({ worldCols: 2, worldRows: 1, serverReconnectGraceMs: 300, leaseCheckMs: 60_000 });
    const auth = { serverId: 'flaky', secret: NETWORK_SECRET, power: 1, protocol: PROTOCOL_VERSION };
    const first = rawSocket(mesh.url(node), SERVER_NAMESPACE, auth);
    const welcome = await new Promise<{ epoch: number }>((r) => first.once('welcome', r));
    await first.timeout(2000).emitWithAck('sync:ready');
    const alice = await mesh.addClient(node, 'alice');
    expect(alice.session?.server).to.equal('flaky');
    const survivor = await mesh.addServer(node, 'survivor');
    first.disconnect(); // no drain: a network cut, say
    // No scheduled lease check for a minute: only the one the disconnect asked for can recover it.
    await waitFor(() => node.testHook.cache.areas.get('0,0')?.server === 'survivor', 5000, 'recovered after the grace');
    await waitFor(() => survivor.sdk.players.has('alice'), 3000, 'alice on the survivor');
    const back = rawSocket(mesh.url(node), SERVER_NAMESPACE, { ...auth, epoch: welcome.epoch, players: { alice: 0 } });
    expect(await handshakeOutcome(back)).to.equal('FENCED');
    back.close();
    const afresh = rawSocket(mesh.url(node), SERVER_NAMESPACE, auth);
    const again = await new Promise<{ epoch: number; areas: unknown[]; players: string[] }>((r) => afresh.once('welcome', r));
    expect(again.epoch).to.be.greaterThan(welcome.epoch);
    expect(again).to.deep.include({ areas: [], players: [] });
    expect(alice.session?.server ?? 'survivor').to.equal('survivor');
    afresh.close();
  });

  it('a server that reconnects within the grace keeps its areas and players', async function () {
    this.timeout(20_000);
    const node = await mesh.addBridge({ worldCols: 2, worldRows: 1, serverReconnectGraceMs: 2000 });
    const s1 = await mesh.addServer(node, 's1');
    const alice = await mesh.addClient(node, 'alice');
    const epoch = s1.sdk.epoch;
    let disconnects = 0;
    s1.sdk.on('disconnect', () => disconnects++);
    (s1.sdk as unknown as { socket: { io: { engine: { close(): void } } } }).socket.io.engine.close(); // the connection drops
    await waitFor(() => disconnects === 1 && s1.sdk.connected, 5000, 's1 back');
    await sleep(2500); // past the grace
    expect(node.testHook.cache.areas.get('0,0')?.server).to.equal('s1');
    expect(node.testHook.cache.servers.get('s1')).to.include({ status: 'ready', epoch: epoch + 1 });
    expect(alice.session?.server).to.equal('s1');
    alice.send({ dx: 1 });
    await waitFor(() => alice.ack === 1, 3000, 'inputs still reach s1');
  });
});
