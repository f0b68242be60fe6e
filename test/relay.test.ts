import { expect } from 'chai';
import { Mesh, waitFor } from './harness.js';
import { busPublishes, range, recordState, seedLastArea } from './helpers.js';
import { sharedRedis } from './setup.js';

describe('relay', () => {
  let mesh: Mesh;
  beforeEach(() => { mesh = new Mesh(sharedRedis()); });
  afterEach(() => mesh.close());

  it('attaches a joining player to the spawn area owner and relays inputs and state', async () => {
    const node = await mesh.addBridge();
    const s1 = await mesh.addServer(node, 's1');
    const alice = await mesh.addClient(node, 'alice');
    expect(alice.session).to.include({ player: 'alice', server: 's1', area: '0,0', ack: 0 });
    for (let i = 0; i < 5; i++) alice.send({ dx: 1, dy: 0 });
    await waitFor(() => alice.ack === 5, 3000, 'ack 5');
    expect(s1.applied.get('alice')).to.deep.equal([1, 2, 3, 4, 5]);
    expect(s1.positions.get('alice')?.x).to.equal(55);
  });

  it('delivers 10,000 inputs exactly once and in order from a client on node A to a server on node B', async function () {
    this.timeout(60_000);
    const [a, b] = [await mesh.addBridge(), await mesh.addBridge()];
    const s1 = await mesh.addServer(b, 's1');
    const alice = await mesh.addClient(a, 'alice', { maxUnacked: 20_000 });
    const started = process.hrtime.bigint();
    for (let i = 0; i < 10_000; i++) alice.send({ dx: i % 2 ? 1 : -1, dy: 0 });
    await waitFor(() => (s1.applied.get('alice')?.length ?? 0) >= 10_000, 30_000, '10,000 inputs applied');
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    console.log(`      10,000 cross-node inputs applied in ${seconds.toFixed(2)} s (${Math.round(10_000 / seconds)} inputs/s)`);
    expect(s1.applied.get('alice')).to.deep.equal(range(1, 10_000));
    await waitFor(() => alice.ack === 10_000, 5000, 'all acked');
    // Inputs crossed nodes in batches: far fewer publishes than inputs.
    expect(await busPublishes(a)).to.be.below(10_000);
  });

  it('sends area state to the clients of that area on every node, and to no one else', async () => {
    // interestRadius 0: a client sees its own area only (test/interest.test.ts covers neighbours).
    const [a, b] = [await mesh.addBridge({ interestRadius: 0 }), await mesh.addBridge({ interestRadius: 0 })];
    await mesh.addServer(a, 's1');
    await mesh.addServer(b, 's2');
    // carol is a returning player whose last known area is 1,0.
    await seedLastArea(mesh, 'carol', '1,0');
    const alice = await mesh.addClient(a, 'alice');
    const bob = await mesh.addClient(b, 'bob');
    const carol = await mesh.addClient(a, 'carol');
    expect([alice.session?.area, bob.session?.area, carol.session?.area]).to.deep.equal(['0,0', '0,0', '1,0']);
    expect(carol.session?.server).to.not.equal(alice.session?.server, 'unowned 1,0 goes to the other (least loaded) server');
    const [seenA, seenB, seenC] = [recordState(alice), recordState(bob), recordState(carol)];
    alice.send({ dx: 1, dy: 1 });
    await waitFor(() => seenB.some((s) => s.kind === 'area' && JSON.stringify(s.data).includes('"seq":1')), 3000, 'bob sees alice move');
    await waitFor(() => seenA.some((s) => s.kind === 'area' && JSON.stringify(s.data).includes('"seq":1')), 3000, 'alice sees her move');
    await waitFor(() => seenC.filter((s) => s.kind === 'area').length > 3, 3000, 'carol gets her own area state');
    // Each list holds area state (checked above), and only of its own area.
    expect(seenA.filter((s) => s.kind === 'area').every((s) => s.kind === 'area' && s.area === '0,0')).to.equal(true);
    expect(seenB.filter((s) => s.kind === 'area').every((s) => s.kind === 'area' && s.area === '0,0')).to.equal(true);
    expect(seenC.filter((s) => s.kind === 'area').every((s) => s.kind === 'area' && s.area === '1,0')).to.equal(true);
  });

  it('delivers world-wide state to every client on every node', async () => {
    const [a, b] = [await mesh.addBridge(), await mesh.addBridge()];
    const s1 = await mesh.addServer(a, 's1');
    const clients = [await mesh.addClient(a, 'alice'), await mesh.addClient(b, 'bob')];
    const seen = clients.map(recordState);
    s1.sdk.pushAll({ weather: 'rain' });
    await waitFor(
      () => seen.every((items) => items.some((s) => s.kind === 'all' && JSON.stringify(s.data) === '{"weather":"rain"}')),
      3000,
      'both see it',
    );
  });

  it('delivers player-addressed state to that player only, across nodes', async () => {
    const [a, b] = [await mesh.addBridge(), await mesh.addBridge()];
    const s1 = await mesh.addServer(a, 's1');
    const alice = await mesh.addClient(b, 'alice');
    const bob = await mesh.addClient(a, 'bob');
    const [seenA, seenB] = [recordState(alice), recordState(bob)];
    s1.sdk.pushPlayer('alice', { secret: 'for alice' });
    await waitFor(() => seenA.some((s) => s.kind === 'player'), 3000, 'alice gets her state');
    await new Promise((r) => setTimeout(r, 100));
    expect(seenB.some((s) => s.kind === 'player')).to.equal(false);
  });
});
