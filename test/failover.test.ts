import { expect } from 'chai';
import { Mesh, sleep, waitFor } from './harness.js';
import { range } from './helpers.js';
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
});
