// The one transfer mechanism, for a whole area: its players move with it exactly once and in
// order, and a target that declines leaves everything with the source (rolled back, resumed).
import { expect } from 'chai';
import type { JournalEntry } from '../gameserver-stub/reference-server.js';
import { Mesh, sleep, waitFor } from './harness.js';
import { expectEachInputOnceInOrder } from './helpers.js';
import { sharedRedis } from './setup.js';

describe('transfer: moving a whole area', () => {
  let mesh: Mesh;
  beforeEach(() => { mesh = new Mesh(sharedRedis()); });
  afterEach(() => mesh.close());

  it('moves the area and its players, clients on two nodes, under input: each input once, in order', async function () {
    this.timeout(20_000);
    const [a, b] = [await mesh.addBridge(), await mesh.addBridge()];
    const journal: JournalEntry[] = [];
    const s1 = await mesh.addServer(a, 's1', { journal });
    const s2 = await mesh.addServer(b, 's2', { journal });
    const clients = [await mesh.addClient(a, 'p1'), await mesh.addClient(b, 'p2')];
    expect(clients.map((c) => c.session?.server)).to.deep.equal(['s1', 's1']);
    const before = a.testHook.cache.areas.get('0,0')!.epoch;
    let sending = true;
    const sender = (async () => { while (sending) { for (const c of clients) c.send({ dx: 1 }); await sleep(5); } })();
    await sleep(100);
    expect(await b.testHook.moveArea('0,0', 's2')).to.equal(before + 1);
    await sleep(100);
    sending = false;
    await sender;
    await expectEachInputOnceInOrder(journal, clients);
    expect(a.testHook.cache.areas.get('0,0')).to.deep.equal({ server: 's2', epoch: before + 1 });
    expect([...s2.sdk.players.keys()].sort()).to.deep.equal(['p1', 'p2']);
    expect(s1.sdk.players.size).to.equal(0);
    const recs = await a.testHook.map.loadPlayers(['p1', 'p2']);
    expect([...recs.values()].map((r) => r.server)).to.deep.equal(['s2', 's2']);
  });

  it('a target that declines the area: HANDOFF_FAILED, the source resumes, inputs keep flowing to it', async () => {
    const [a, b] = [await mesh.addBridge(), await mesh.addBridge()];
    const s1 = await mesh.addServer(a, 's1');
    const s2 = await mesh.addServer(b, 's2');
    s2.sdk.hooks.acceptArea = () => false;
    const alice = await mesh.addClient(b, 'alice');
    const resumed: string[] = [];
    s1.sdk.on('area:resume', (area) => resumed.push(area));
    const epoch = a.testHook.cache.areas.get('0,0')!.epoch;
    const err = await a.testHook.moveArea('0,0', 's2').then(() => undefined, (e: { code?: string }) => e.code);
    expect(err).to.equal('HANDOFF_FAILED');
    expect(a.testHook.cache.areas.get('0,0')).to.deep.equal({ server: 's1', epoch });
    await waitFor(() => resumed.includes('0,0'), 2000, 'area:resume');
    for (let i = 0; i < 5; i++) alice.send({ dx: 1 });
    await waitFor(() => alice.ack === 5, 3000, 'alice served by the source');
    expect(s1.applied.get('alice')).to.deep.equal([1, 2, 3, 4, 5]);
    expect(s2.sdk.players.has('alice')).to.equal(false);
    expect((await a.testHook.metrics.areaMoves.get()).values.find((v) => v.labels.outcome === 'failed')?.value).to.equal(1);
  });

  it('an admin move whose source link\'s node died answers 409 HANDOFF_FAILED, not 500; the area stays', async function () {
    this.timeout(20_000);
    // Long enough that nothing recovers s1 meanwhile: the move meets a node that is gone, nothing else.
    const opts = { adminToken: 'admin-token-0123456789', serverReconnectGraceMs: 60_000, leaseCheckMs: 60_000, handoffTimeoutMs: 500 };
    const [a, b] = [await mesh.addBridge(opts), await mesh.addBridge(opts)];
    await mesh.addServer(b, 's1'); // linked through b only
    await mesh.addClient(a, 'alice'); // 0,0 placed on s1
    await mesh.addServer(a, 's2');
    const epoch = a.testHook.cache.areas.get('0,0')!.epoch;
    await b.close();
    const res = await fetch(`${mesh.url(a)}/v1/admin/areas/0,0/move`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer admin-token-0123456789' },
      body: JSON.stringify({ server: 's2' }),
    });
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect([res.status, body.error.code]).to.deep.equal([409, 'HANDOFF_FAILED'], body.error.message);
    expect(a.testHook.cache.areas.get('0,0')).to.deep.equal({ server: 's1', epoch });
  });
});
