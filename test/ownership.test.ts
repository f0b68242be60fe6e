import { expect } from 'chai';
import { Mesh, sleep, waitFor } from './harness.js';
import { range } from './helpers.js';
import { sharedRedis } from './setup.js';

describe('ownership changes', () => {
  let mesh: Mesh;
  beforeEach(() => { mesh = new Mesh(sharedRedis()); });
  afterEach(() => mesh.close());

  it('an area reassignment is in every node cache when the call returns, and fences the old owner at once', async () => {
    const nodes = [await mesh.addBridge(), await mesh.addBridge(), await mesh.addBridge()];
    const [a, b, c] = nodes as [typeof nodes[0], typeof nodes[0], typeof nodes[0]];
    const s1 = await mesh.addServer(b, 's1');
    const s2 = await mesh.addServer(c, 's2');
    await mesh.addClient(a, 'alice');
    const before = a.testHook.cache.areas.get('0,0')!;
    expect(before.server).to.equal('s1');
    const epoch = await a.testHook.assignArea('0,0', 's2');
    expect(epoch).to.equal(before.epoch + 1);
    for (const n of nodes) expect(n.testHook.cache.areas.get('0,0'), n.id).to.deep.equal({ server: 's2', epoch });
    await waitFor(() => s2.sdk.areas.get('0,0') === epoch && !s1.sdk.areas.has('0,0'), 2000, 'servers told');
    const errs: string[] = [];
    s1.sdk.on('bridge-error', (e) => errs.push(e.code));
    s1.sdk.pushUnchecked([{ kind: 'area', area: '0,0', epoch: before.epoch, data: 'late' }]);
    await waitFor(() => errs.includes('NOT_OWNER'), 2000, 'old owner fenced');
  });

  it('a player move is seen by every node before the next input is routed', async () => {
    const nodes = [await mesh.addBridge(), await mesh.addBridge(), await mesh.addBridge()];
    const [a, b, c] = nodes as [typeof nodes[0], typeof nodes[0], typeof nodes[0]];
    const s1 = await mesh.addServer(b, 's1');
    const s2 = await mesh.addServer(c, 's2');
    const alice = await mesh.addClient(a, 'alice');
    expect(alice.session?.server).to.equal('s1');
    await a.testHook.assignArea('1,0', 's2');
    for (let i = 0; i < 20; i++) alice.send({ dx: 1 });
    await waitFor(() => alice.ack === 20, 3000, 'first 20 at s1');

    const moved = await b.testHook.handoff('alice', '1,0');
    if (!moved.ok) throw new Error(moved.message);
    const epoch = moved.epoch;
    for (const n of nodes) expect(n.testHook.cache.players.get('alice'), n.id).to.include({ server: 's2', area: '1,0', epoch });
    for (let i = 0; i < 20; i++) alice.send({ dx: 1 });
    await waitFor(() => alice.ack === 40, 3000, 'next 20 at s2');
    expect(s1.applied.get('alice')).to.deep.equal(range(1, 20));
    expect(s2.applied.get('alice')).to.deep.equal(range(21, 40));
    expect(s1.sdk.players.has('alice')).to.equal(false);
    expect(s2.sdk.players.get('alice')).to.include({ area: '1,0', epoch });
    await sleep(50);
    expect(await a.testHook.metrics.inputsDropped.get().then((m) => m.values.reduce((s, v) => s + v.value, 0))).to.equal(0);
  });
});
