import { expect } from 'chai';
import type { BridgeNode } from '../bridge/bridge-node.js';
import type { JournalEntry } from '../gameserver-stub/reference-server.js';
import type { MeshClient } from '../client-sdk/index.js';
import { GameServerClient } from '../gameserver-stub/sdk.js';
import { PROTOCOL_VERSION, SERVER_NAMESPACE } from '../shared/protocol.js';
import { Mesh, NETWORK_SECRET, sleep, waitFor } from './harness.js';
import { expectEachInputOnceInOrder, firstStateFrom, handshakeOutcome, range, rawSocket, seedLastArea } from './helpers.js';
import { sharedRedis } from './setup.js';

const areaMoves = async (node: BridgeNode) =>
  (await node.testHook.metrics.areaMoves.get()).values.filter((v) => v.labels.outcome === 'completed').reduce((s, v) => s + v.value, 0);

describe('the mesh', () => {
  let mesh: Mesh;
  beforeEach(() => { mesh = new Mesh(sharedRedis()); });
  afterEach(() => mesh.close());

  it('placement: a returning player lands on its last area owner; one in an unloaded area on the lowest load:power server', async () => {
    const opts = { loadFormula: 'players * 2', sessionGraceMs: 0, worldCols: 3, worldRows: 1 };
    const node = await mesh.addBridge(opts);
    const s1 = await mesh.addServer(node, 's1', { power: 1, snapshotMs: 50, loadIntervalMs: 50 });
    const alice = await mesh.addClient(node, 'alice');
    for (let i = 0; i < 7; i++) alice.send({ dx: 1, dy: 0 });
    await waitFor(() => alice.ack === 7, 3000, 'alice moved');
    const saved = { ...s1.positions.get('alice')! };
    await sleep(200); // an autosave and a load report go by
    const s2 = await mesh.addServer(node, 's2', { power: 4, loadIntervalMs: 50 });
    await mesh.addServer(node, 's3', { power: 1, loadIntervalMs: 50 });
    const joined: string[] = [];
    s2.sdk.on('presence', (p) => joined.push(`${p.player}:${p.status}`));
    alice.close();
    await waitFor(async () => (await node.testHook.map.loadPlayers(['alice'])).get('alice')?.server === '', 3000, 'alice left');
    await waitFor(() => joined.includes('alice:left'), 2000, 'servers told alice left');
    // Back again: to s1, which owns her last area, although s2 is idle; at her saved position.
    const again = await mesh.addClient(node, 'alice');
    expect(again.session).to.include({ server: 's1', area: '0,0' });
    await waitFor(() => s1.positions.has('alice'), 2000, 'attached');
    expect(s1.positions.get('alice')).to.deep.equal(saved);
    expect(again.ack).to.equal(7, 'the next session numbers inputs after the last applied one');
    // carl returns to 2,0, which s3 (power 1) loads: s3's ratio is now 2. bob's last area 1,0 is
    // unloaded: the lowest load:power ratio takes it, s2 (0 / 4), not s3 nor s1 (2 / 1 each).
    await node.testHook.assignArea('2,0', 's3');
    await seedLastArea(mesh, 'carl', '2,0');
    await seedLastArea(mesh, 'bob', '1,0');
    const carl = await mesh.addClient(node, 'carl');
    expect(carl.session?.server).to.equal('s3');
    await waitFor(() => joined.includes('carl:joined'), 2000, 'every server hears of carl');
    await waitFor(
      () => node.testHook.cache.servers.get('s3')?.load === 2 && node.testHook.cache.servers.get('s1')?.load === 2,
      3000,
      'loads reported',
    );
    const bob = await mesh.addClient(node, 'bob');
    expect(bob.session).to.include({ area: '1,0', server: 's2' });
  });

  // The stability window is counted in rebalance runs and cooldowns, not seconds: 100 runs, and each
  // moved area's cooldown running out 10 times over, with nothing moving.
  it('rebalance: six busy areas on one server and two idle ones end under the threshold, then stay put for 100 runs', async function () {
    this.timeout(60_000);
    const opts = {
      worldCols: 6,
      worldRows: 1,
      spawnAreas: '0,0 1,0 2,0 3,0 4,0 5,0',
      rebalanceThreshold: 10,
      rebalanceIntervalMs: 100,
      areaCooldownMs: 1000,
      loadFormula: 'players',
    };
    const [a, b] = [await mesh.addBridge(opts), await mesh.addBridge(opts)];
    const s1 = await mesh.addServer(a, 's1', { loadIntervalMs: 100 });
    const journal: JournalEntry[] = [];
    (s1.options as { journal?: JournalEntry[] }).journal = journal;
    const clients: MeshClient[] = [];
    for (let i = 0; clients.length < 24; i++) {
      const c = await mesh.addClient([a, b][i % 2]!, `p${i}`);
      clients.push(c);
    }
    expect(new Set(clients.map((c) => c.session?.server))).to.deep.equal(new Set(['s1']));
    const s2 = await mesh.addServer(b, 's2', { loadIntervalMs: 100, journal });
    const s3 = await mesh.addServer(a, 's3', { loadIntervalMs: 100, journal });
    let sending = true;
    const sender = (async () => { while (sending) { for (const c of clients) c.send({ dx: 0.1 }); await sleep(50); } })();
    const ratios = () => [s1, s2, s3].map((s) => [...s.sdk.players.values()].length);
    await waitFor(() => ratios().every((r) => r <= 10), 30_000, 'every ratio under the threshold');
    expect(ratios().reduce((x, y) => x + y, 0)).to.equal(24);
    expect(s2.sdk.players.size + s3.sdk.players.size).to.be.greaterThan(0, 'the idle servers took work');
    await sleep(1000);
    const settled = (await areaMoves(a)) + (await areaMoves(b));
    const owners = JSON.stringify([...a.testHook.cache.areas].sort());
    await sleep(10_000);
    expect((await areaMoves(a)) + (await areaMoves(b))).to.equal(settled, 'no area moved during 100 further rebalance runs');
    expect(JSON.stringify([...a.testHook.cache.areas].sort())).to.equal(owners);
    sending = false;
    await sender;
    await expectEachInputOnceInOrder(journal, clients);
  });

  it('players joining an area while it moves end up with its new owner', async function () {
    this.timeout(30_000);
    const [a, b] = [await mesh.addBridge(), await mesh.addBridge()];
    const s1 = await mesh.addServer(a, 's1');
    const s2 = await mesh.addServer(b, 's2');
    await mesh.addClient(a, 'first'); // loads 0,0 on s1
    for (let i = 0; i < 10; i++) {
      const to = i % 2 === 0 ? 's2' : 's1';
      await Promise.all([a.testHook.moveArea('0,0', to), mesh.addClient([a, b][i % 2]!, `racer${i}`)]);
      const owner = a.testHook.cache.areas.get('0,0')!.server;
      const recs = await a.testHook.map.loadPlayers(mesh.clients.map((c) => c.player!));
      for (const [id, rec] of recs) expect(rec.server, `${id} after move ${i}`).to.equal(owner);
      await waitFor(
        () => [...recs.keys()].every((id) => (owner === 's1' ? s1 : s2).sdk.players.has(id)),
        3000,
        `all simulated by ${owner}`,
      );
      expect([...recs.keys()].some((id) => (owner === 's1' ? s2 : s1).sdk.players.has(id))).to.equal(false);
    }
  });

  it('drain moves every player off a server with no lost input', async function () {
    this.timeout(30_000);
    const opts = { worldCols: 2, worldRows: 1, spawnAreas: '0,0 1,0' };
    const [a, b] = [await mesh.addBridge(opts), await mesh.addBridge(opts)];
    const journal: JournalEntry[] = [];
    const s1 = await mesh.addServer(a, 's1', { journal });
    const clients: MeshClient[] = [];
    for (let i = 0; i < 6; i++) clients.push(await mesh.addClient([a, b][i % 2]!, `d${i}`));
    const s2 = await mesh.addServer(b, 's2', { journal });
    let sending = true;
    const sender = (async () => { while (sending) { for (const c of clients) c.send({ dy: 1 }); await sleep(10); } })();
    await sleep(200);
    await s1.sdk.drain();
    expect(s1.sdk.players.size).to.equal(0);
    expect(s2.sdk.players.size).to.equal(6);
    expect(a.testHook.cache.servers.get('s1')?.status).to.equal('gone');
    sending = false;
    await sender;
    await expectEachInputOnceInOrder(journal, clients);
  });

  it('SIGTERM of a reference server drains it before it exits', async function () {
    this.timeout(30_000);
    const [a] = [await mesh.addBridge()];
    const child = await mesh.spawnServer(a, 's1');
    const clients = [await mesh.addClient(a, 'e1'), await mesh.addClient(a, 'e2')];
    expect(clients.map((c) => c.session?.server)).to.deep.equal(['s1', 's1']);
    const s2 = await mesh.addServer(a, 's2');
    for (const c of clients) for (let i = 0; i < 20; i++) c.send({ dx: 1 });
    await waitFor(() => clients.every((c) => c.ack === 20), 5000, 'served by s1');
    const exited = new Promise<number | null>((r) => child.once('exit', r));
    child.kill('SIGTERM');
    expect(await exited).to.equal(0);
    expect(s2.sdk.players.size).to.equal(2);
    for (const c of clients) for (let i = 0; i < 20; i++) c.send({ dx: 1 });
    await waitFor(() => clients.every((c) => c.ack === 40), 5000, 'served by s2');
    for (const c of clients) expect(s2.applied.get(c.player!)).to.deep.equal(range(21, 40));
  });

  it('kill -9 of a server: its players get state from new owners within lease + 1 s, from its last autosave; ' +
    'its old epoch is fenced', async function () {
    this.timeout(30_000);
    const opts = { serverLeaseMs: 1000, leaseCheckMs: 200, worldCols: 2, worldRows: 1, spawnAreas: '0,0 1,0' };
    const [a, b] = [await mesh.addBridge(opts), await mesh.addBridge(opts)];
    const child = await mesh.spawnServer(a, 's1');
    const clients: MeshClient[] = [];
    for (let i = 0; i < 4; i++) clients.push(await mesh.addClient([a, b][i % 2]!, `k${i}`));
    expect(new Set(clients.map((c) => c.session?.server))).to.deep.equal(new Set(['s1']));
    const s2 = await mesh.addServer(b, 's2');
    for (const c of clients) for (let i = 0; i < 10; i++) c.send({ dx: 1, dy: 1 });
    await waitFor(() => clients.every((c) => c.ack === 10), 5000, 'served by s1');
    await sleep(1200); // at least one autosave after the moves
    const saved = await a.testHook.map.loadPlayers(clients.map((c) => c.player!));
    const oldEpoch = a.testHook.cache.servers.get('s1')!.epoch;
    const recovered = clients.map((c) => firstStateFrom(c, a.testHook.cache, 's2'));
    const statuses: string[] = [];
    clients[0]!.on('authority', (x) => statuses.push(x.status));
    const killedAt = performance.now();
    child.kill('SIGKILL');
    const times = await Promise.all(recovered);
    const worst = Math.max(...times) - killedAt;
    console.log(`      kill -9 -> every player receiving state from its new owner: ${worst.toFixed(0)} ms (lease 1000 ms)`);
    expect(worst).to.be.below(1000 + 1000);
    expect(statuses).to.include.members(['recovering', 'active']);
    for (const c of clients) {
      expect(s2.positions.get(c.player!)).to.deep.equal(saved.get(c.player!)?.snapshot, `${c.player} restored from the autosave`);
    }
    // Inputs go on, to the new owner.
    for (const c of clients) c.send({ dx: 1 });
    await waitFor(() => clients.every((c) => c.ack === 11), 5000, 'served by s2');
    // The killed server comes back claiming its old session: fenced.
    const stale = rawSocket(mesh.url(a), SERVER_NAMESPACE, {
      serverId: 's1',
      secret: NETWORK_SECRET,
      power: 1,
      protocol: PROTOCOL_VERSION,
      epoch: oldEpoch,
      players: { k0: 10 },
    });
    expect(await handshakeOutcome(stale)).to.equal('FENCED');
    stale.close();
    // The SDK, told so, drops what it held and registers afresh, owning nothing.
    const back = new GameServerClient({ url: mesh.url(b), serverId: 's1', secret: NETWORK_SECRET, power: 1 });
    back.epoch = oldEpoch;
    back.players.set('k0', { area: '0,0', epoch: 1, lastApplied: 10 });
    const welcomed = new Promise<{ epoch: number; areas: unknown[] }>((r) => back.once('welcome', r));
    back.connect().catch(() => undefined);
    const w = await welcomed;
    expect(w.epoch).to.be.greaterThan(oldEpoch);
    expect(w.areas).to.deep.equal([]);
    expect(back.players.size).to.equal(0);
    back.close();
  });
});
