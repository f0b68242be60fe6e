// When Redis loses the world's data (issue 26): FLUSHALL while running, a restart without
// persistence, a restore from an older snapshot. The nodes see it (the incarnation marker, its
// rev), rebuild the map from what the live parties hold (links, areas, players, sessions), refuse
// writes meanwhile, and issue every later epoch above every earlier one. Players connected keep
// playing (each input applied once, in order), new players join, moves work, and a message stamped
// with a pre-loss epoch that is no longer current is refused.
import { expect } from 'chai';
import { Redis } from 'ioredis';
import type { JournalEntry } from '../gameserver-stub/reference-server.js';
import type { MeshClient } from '../client-sdk/index.js';
import { PROTOCOL_VERSION, SERVER_NAMESPACE } from '../shared/protocol.js';
import { Mesh, NETWORK_SECRET, RedisServer, sleep, waitFor } from './harness.js';
import { handshakeOutcome, rawSocket, steady } from './helpers.js';

const inOrder = (journal: JournalEntry[], c: MeshClient) => {
  expect(journal.filter((e) => e.player === c.player).map((e) => e.seq), `${c.player}: once each, in order`)
    .to.deep.equal(Array.from({ length: c.ack }, (_, i) => i + 1));
};

type Loss = 'FLUSHALL' | 'restart without persistence' | 'an older snapshot';

describe('Redis loses the world\'s data: the map is rebuilt from the live parties', () => {
  let redis: RedisServer;
  let mesh: Mesh;
  beforeEach(async () => {
    redis = await RedisServer.start({ persistent: true });
    mesh = new Mesh(redis);
  });
  afterEach(async () => {
    await mesh.close();
    await redis.stop();
  });

  for (const loss of ['FLUSHALL', 'restart without persistence', 'an older snapshot'] as Loss[]) {
    it(`${loss}: players keep playing, new ones join, moves work, epochs only grow`, async function () {
      this.timeout(40_000);
      const [a, b] = [await mesh.addBridge(), await mesh.addBridge()];
      const journal: JournalEntry[] = [];
      const s1 = await mesh.addServer(a, 's1', { journal });
      const s2 = await mesh.addServer(b, 's2', { journal });
      await a.testHook.assignArea('0,0', 's1');
      await a.testHook.assignArea('1,0', 's2');
      const snapshot = loss === 'an older snapshot' ? await redis.snapshot() : undefined;
      // After the snapshot: a player joins and an area moves, so the snapshot is behind both.
      const p1 = await mesh.addClient(a, 'p1', { maxUnacked: 100_000 });
      const p2 = await mesh.addClient(b, 'p2', { maxUnacked: 100_000 });
      await a.testHook.moveArea('1,0', 's1');
      await a.testHook.moveArea('1,0', 's2');
      const stop = steady([p1, p2]);
      await waitFor(() => p1.ack > 20 && p2.ack > 20, 5000, 'served');
      const before = Math.max(...[a, b].flatMap((n) => [...n.testHook.cache.areas.values(), ...n.testHook.cache.players.values()]
        .map((o) => o.epoch)));
      const areaEpoch = a.testHook.cache.areas.get('1,0')!.epoch;

      const lostAt = performance.now();
      if (loss === 'FLUSHALL') {
        const conn = new Redis(redis.url);
        await conn.flushall();
        conn.disconnect();
      } else {
        await redis.restart(snapshot);
      }
      const p3 = await mesh.addClient(b, 'p3', { maxUnacked: 100_000 });
      const joinedAfter = performance.now() - lostAt;
      p3.send({ dx: 1 });
      await waitFor(() => p3.ack === 1, 5000, 'the new player served');

      // Moves work, and their epochs are above every epoch issued before the loss.
      const moved = await a.testHook.handoff('p1', '1,0');
      expect(moved.ok, JSON.stringify(moved)).to.equal(true);
      expect(moved.ok && moved.epoch).to.be.above(before);
      await a.testHook.moveArea('1,0', 's1');
      await waitFor(() => a.testHook.cache.areas.get('1,0')?.server === 's1', 3000, 'area moved');
      expect(a.testHook.cache.areas.get('1,0')!.epoch).to.be.above(2 ** 32);

      await sleep(300);
      await stop();
      await waitFor(() => [p1, p2, p3].every((c) => c.pending === 0), 10_000, 'every input acknowledged');
      for (const c of [p1, p2]) inOrder(journal, c);

      // A pre-loss message: state for '1,0' stamped with its epoch before the loss, now that s1 owns it again.
      const errors: string[] = [];
      s1.sdk.on('bridge-error', (e) => errors.push(e.code));
      s1.sdk.pushUnchecked([{ kind: 'area', area: '1,0', epoch: areaEpoch, data: { stale: true } }]);
      await waitFor(() => errors.length > 0, 3000, 'the stale item answered');
      expect(errors).to.deep.equal(['STALE_EPOCH']);
      // And a server session from before the loss that no live party held: never issued in this map.
      const ghost = rawSocket(mesh.url(a), SERVER_NAMESPACE, {
        serverId: 'gone-before', secret: NETWORK_SECRET, power: 1, protocol: PROTOCOL_VERSION, epoch: 3,
      });
      expect(await handshakeOutcome(ghost)).to.equal('FENCED');
      ghost.close();
      const conn = new Redis(redis.url);
      const marker = await conn.hgetall(`mb:{${mesh.world}}:incarnation`);
      conn.disconnect();
      expect(Number(marker.n)).to.equal(2);
      const rebuilds = await Promise.all([a, b].map(async (n) => (await n.testHook.metrics.worldRebuilds.get()).values
        .reduce((s, v) => s + v.value, 0)));
      expect(rebuilds).to.deep.equal([1, 1], 'each node restored once');
      expect(s2.sdk.connected && s1.sdk.connected).to.equal(true);
      console.log(`      ${loss}: new player in session ${joinedAfter.toFixed(0)} ms after the loss; incarnation ${marker.n}; `
        + `${p1.ack + p2.ack} inputs of the players connected throughout applied once, in order`);
    });
  }

  it('a record older than what a node heard (an older snapshot, not restored yet) never attaches a player twice', async () => {
    const [a, b] = [await mesh.addBridge(), await mesh.addBridge()];
    await mesh.addServer(a, 's1');
    const s2 = await mesh.addServer(b, 's2');
    await a.testHook.assignArea('0,0', 's1');
    await a.testHook.assignArea('1,0', 's2');
    const p = await mesh.addClient(a, 'p');
    const moved = await a.testHook.handoff('p', '1,0');
    expect(moved.ok).to.equal(true);
    await a.testHook.handoff('p', '0,0');
    await waitFor(() => b.testHook.cache.players.get('p')?.server === 's1', 3000, 'p back on s1, as node b heard');
    // What an older snapshot holds: p on s2, under an epoch below the one every node heard since.
    const conn = new Redis(redis.url);
    const key = `mb:{${mesh.world}}:player:p`;
    await conn.hset(key, 'server', 's2', 'area', '1,0', 'epoch', 1);
    await conn.sadd(`mb:{${mesh.world}}:server:s2:players`, 'p');
    const attaches: number[] = [];
    s2.sdk.on('attach', (x) => attaches.push(x.epoch));
    await b.testHook.reconcileLinks();
    // Positive control, behind it on the same connection: a record newer than what the node heard does attach.
    const newer = b.testHook.cache.players.get('p')!.epoch + 1;
    await conn.hset(key, 'epoch', newer);
    conn.disconnect();
    await b.testHook.reconcileLinks();
    await waitFor(() => attaches.length > 0 && attaches.at(-1) === newer, 3000, 'attached from the newer record');
    expect(attaches, 'no attach from the stale record before it').to.deep.equal([newer]);
    p.close();
  });

  it('after a catch-up, a link that missed a player\'s attach attaches it from the record at its next input', async () => {
    const node = await mesh.addBridge();
    const journal: JournalEntry[] = [];
    const s1 = await mesh.addServer(node, 's1', { journal });
    const alice = await mesh.addClient(node, 'alice', { maxUnacked: 100_000 });
    await waitFor(() => s1.sdk.players.has('alice'), 3000, 'attached');
    await node.testHook.reconcileLinks(); // a catch-up, as after a Redis reconnect: announcements may have been missed
    // As if the attach had never reached the link nor the server (its announcement missed).
    expect(node.testHook.forgetAttach('s1', 'alice')).to.equal(true);
    s1.sdk.players.delete('alice');
    for (let i = 0; i < 5; i++) alice.send({ dx: 1 });
    await waitFor(() => alice.ack === 5, 5000, 'served after the link attached alice from her record');
    expect(s1.sdk.players.has('alice')).to.equal(true);
    inOrder(journal, alice);
  });
});
