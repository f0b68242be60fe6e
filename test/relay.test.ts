import { expect } from 'chai';
import { Mesh, waitFor } from './harness.js';
import { sharedRedis } from './setup.js';

describe('relay: one node', () => {
  let mesh: Mesh;
  beforeEach(() => { mesh = new Mesh(sharedRedis()); });
  afterEach(() => mesh.close());

  it('attaches a joining player to the spawn area owner and relays inputs and state', async () => {
    const node = await mesh.addBridge();
    const s1 = await mesh.addServer(node, 's1');
    const alice = await mesh.addClient(node, 'alice');
    expect(alice.session).to.include({ player: 'alice', server: 's1', area: '0,0' });
    for (let i = 0; i < 5; i++) alice.send({ dx: 1, dy: 0 });
    await waitFor(() => alice.ack === 5, 3000, 'ack 5');
    expect(s1.applied.get('alice')).to.deep.equal([1, 2, 3, 4, 5]);
    expect(s1.positions.get('alice')?.x).to.equal(55);
  });
});
