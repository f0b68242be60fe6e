// On a Redis Cluster (`npm run test:cluster` starts a local one with 3 masters; without it these
// tests are skipped): the world's keys stay in one slot, so every script is atomic there; the hot
// channels spread over the shards; and no message is published the classic way, which the
// cluster bus would copy to every node.
import { expect } from 'chai';
import type { Cluster, Redis } from 'ioredis';
import type { MeshClient } from '../client-sdk/index.js';
import { Keys } from '../shared/keys.js';
import { Mesh, waitFor } from './harness.js';
import { range, recordState } from './helpers.js';
import { sharedRedis } from './setup.js';

/** `INFO commandstats` calls of one command on one server. */
async function calls(server: { info(section: string): Promise<string> }, command: string): Promise<number> {
  const line = (await server.info('commandstats')).split('\n').find((l) => l.startsWith(`cmdstat_${command}:`));
  return Number(/calls=(\d+)/.exec(line ?? '')?.[1] ?? 0);
}

describe('Redis Cluster: one slot per world, sharded pub/sub spread over the shards', function () {
  let mesh: Mesh;
  before(function () {
    if (!process.env.MESH_REDIS_CLUSTER) this.skip();
  });
  beforeEach(() => { mesh = new Mesh(sharedRedis()); });
  afterEach(() => mesh.close());

  it('relays across three nodes on three shards: keys in one slot, channels on several, nothing published the classic way', async () => {
    const cluster = (await mesh.connect()) as Cluster;
    const masters = cluster.nodes('master');
    expect(masters).to.have.length(3);
    const count = async (m: Redis) => ({ publish: await calls(m, 'publish'), spublish: await calls(m, 'spublish') });
    const counts = () => Promise.all(masters.map(count));
    const before = await counts();

    const opts = { worldCols: 4, worldRows: 1, interestRadius: 0 };
    const nodes = [await mesh.addBridge(opts), await mesh.addBridge(opts), await mesh.addBridge(opts)];
    const servers = [await mesh.addServer(nodes[0]!, 's1'), await mesh.addServer(nodes[1]!, 's2')];
    for (const [i, area] of ['0,0', '1,0', '2,0', '3,0'].entries()) await nodes[0]!.testHook.assignArea(area, `s${(i % 2) + 1}`);
    const clients: MeshClient[] = [];
    for (const [i, area] of ['0,0', '1,0', '2,0', '3,0'].entries()) {
      const c = await mesh.addClient(nodes[(i + 2) % 3]!, `p${i}`);
      const r = await nodes[0]!.testHook.handoff(`p${i}`, area);
      expect(r.ok, `p${i} moved to ${area}`).to.equal(true);
      clients.push(c);
    }
    const seen = clients.map((c) => recordState(c));
    for (const c of clients) for (let i = 0; i < 50; i++) c.send({ dx: 0, dy: 0 });
    await waitFor(() => clients.every((c) => c.ack === 50), 10_000, 'every input acknowledged');
    for (const [i, c] of clients.entries()) {
      const owner = servers.find((s) => s.id === c.session?.server)!;
      expect(owner.applied.get(`p${i}`), `p${i}'s inputs once, in order`).to.deep.equal(range(1, 50));
    }
    await waitFor(() => seen.every((s) => s.some((item) => item.kind === 'area')), 5000, 'area state on every client');

    // The world's keys: one slot, so one master holds them all.
    const keys = new Keys('mb', mesh.world);
    const worldKeys = [keys.areas, keys.servers, keys.player('p0'), keys.chatStream('global')];
    const slots = await Promise.all(worldKeys.map((k) => cluster.cluster('KEYSLOT', k)));
    expect(new Set(slots).size, 'one slot').to.equal(1);
    const held = await Promise.all(masters.map(async (m) => Number(await m.cluster('COUNTKEYSINSLOT', slots[0]!))));
    expect(held.filter((n) => n > 0), 'the master of the world slot holds its keys, the others none').to.have.length(1);
    // The channels this mesh subscribes: on every master (node and area channels carry their own hash tags).
    const channels = await Promise.all(masters.map(async (m) => (await m.pubsub('SHARDCHANNELS', `mb:{${mesh.world}*`)) as string[]));
    expect(channels.filter((c) => c.length > 0), 'masters with channels of this world').to.have.length(3);
    expect(channels.flat().filter((c) => c.endsWith(':state'))).to.have.length.at.least(4);
    const after = await counts();
    const spread = after.map((a, i) => a.spublish - before[i]!.spublish);
    console.log(`      SPUBLISH per master during the scenario: ${spread.join(', ')}`);
    expect(spread.filter((n) => n > 0), 'masters that carried traffic').to.have.length(3);
    expect(after.map((a, i) => a.publish - before[i]!.publish), 'classic PUBLISH calls').to.deep.equal([0, 0, 0]);
    cluster.disconnect();
  });
});
