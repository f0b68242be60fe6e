import { expect } from 'chai';
import type { BridgeNode } from '../bridge/bridge-node.js';
import type { MeshClient } from '../client-sdk/index.js';
import type { ReferenceServer } from '../gameserver-stub/reference-server.js';
import { Mesh, sleep, waitFor } from './harness.js';
import { errorCount } from './helpers.js';
import { sharedRedis } from './setup.js';

/** Stops reading the client's connection (its TCP socket), as a stalled device would. */
function stall(client: MeshClient): { resume(): void } {
  const tcp = (client as unknown as { socket: { io: { engine: { transport: { ws: { _socket: { pause(): void; resume(): void } } } } } } })
    .socket.io.engine.transport.ws._socket;
  tcp.pause();
  return { resume: () => tcp.resume() };
}

const slowNow = async (node: BridgeNode) => (await node.testHook.metrics.slowClientsNow.get()).values[0]?.value ?? 0;
const BLOB = 'x'.repeat(64 * 1024);

/**
 * Pushes big area items (10 per batch: under the 1 MB frame limit) until the node finds a slow client (400 MB at
 * most). `reader`, when given, is a client that reads: each batch waits until it has it, so only the stalled one
 * can fall behind, however loaded the machine.
 */
async function pushUntilSlow(node: BridgeNode, server: ReferenceServer, from: number, reader?: () => number | undefined): Promise<number> {
  let n = from;
  while ((await slowNow(node)) === 0) {
    if (n - from > 6400) throw new Error('no client became slow');
    for (let i = 0; i < 10; i++) server.sdk.pushArea('0,0', { big: ++n, blob: BLOB });
    if (reader) await waitFor(() => reader() === n, 10_000, `the reading client has item ${n}`);
    else await sleep(5);
  }
  return n;
}

describe('slow clients (backpressure)', () => {
  let mesh: Mesh;
  beforeEach(() => { mesh = new Mesh(sharedRedis()); });
  afterEach(() => mesh.close());

  it('a client that stops reading gets the latest state only, and others are not held up', async function () {
    this.timeout(60_000);
    const node = await mesh.addBridge({ worldCols: 1, worldRows: 1, clientBufferBytes: 256 * 1024, slowClientMs: 60_000 });
    const s1 = await mesh.addServer(node, 's1', { tickHz: 0.001 }); // no ticks: the test's items are the only state
    const [alice, bob] = [await mesh.addClient(node, 'alice'), await mesh.addClient(node, 'bob')];
    const seen = { alice: [] as number[], bob: [] as number[] };
    for (const [c, list] of [[alice, seen.alice], [bob, seen.bob]] as const) {
      c.on('state', (item) => {
        const big = (item.data as { big?: number } | null)?.big;
        if (typeof big === 'number') list.push(big);
      });
    }
    const bobReading = stall(bob);
    const slowAt = await pushUntilSlow(node, s1, 0, () => seen.alice.at(-1));
    // Bob is slow: more goes out; alice gets each at once, bob's state is held as the latest.
    for (let i = 1; i <= 50; i++) {
      s1.sdk.pushArea('0,0', { big: slowAt + i, blob: BLOB });
      // One state batch stays under the frame limit (1 MB); alice reads each before the next, so on a loaded machine
      // her own unread bytes never pass clientBufferBytes: what is measured is that bob's stall does not hold her up.
      if (i % 10 === 0) await waitFor(() => seen.alice.at(-1) === slowAt + i, 10_000, `alice has item ${slowAt + i}`);
    }
    const last = slowAt + 50;
    await waitFor(() => seen.alice.at(-1) === last, 10_000, 'alice has every item');
    expect(seen.alice.length).to.equal(last, 'alice got every item, in order');
    expect(seen.alice.every((v, i) => v === i + 1)).to.equal(true);
    const coalesced = (await node.testHook.metrics.stateCoalesced.get()).values[0]?.value ?? 0;
    expect(coalesced).to.be.at.least(50, 'what bob was not sent was held as the latest');

    bobReading.resume();
    await waitFor(() => seen.bob.at(-1) === last, 20_000, 'bob, reading again, gets the latest');
    expect(seen.bob.length).to.be.below(last, 'bob was spared the items in between');
    expect(await slowNow(node)).to.equal(0);
    bob.send({ dx: 1 });
    await waitFor(() => s1.applied.get('bob')?.includes(1) === true, 5000, 'bob is served as usual again');
    s1.sdk.pushArea('0,0', { big: last + 1, blob: 'small' });
    await waitFor(() => seen.bob.at(-1) === last + 1, 5000, 'and gets state as it comes');
    console.log(`      slow after ${slowAt} items of 64 KB; bob received ${seen.bob.length} of ${last}, alice all`);
  });

  it('a client slow for longer than slowClientMs is disconnected with SLOW_CLIENT', async function () {
    this.timeout(60_000);
    const node = await mesh.addBridge({ worldCols: 1, worldRows: 1, clientBufferBytes: 256 * 1024, slowClientMs: 500 });
    const s1 = await mesh.addServer(node, 's1', { tickHz: 0.001 }); // no ticks: the test's items are the only state
    const [alice, bob] = [await mesh.addClient(node, 'alice'), await mesh.addClient(node, 'bob')];
    const bobSession = node.testHook.sessionId('bob');
    const disconnects: string[] = [];
    bob.on('disconnect', (reason) => disconnects.push(reason));
    const reading = stall(bob);
    await pushUntilSlow(node, s1, 0);
    await waitFor(async () => (await errorCount(node, 'SLOW_CLIENT')) === 1, 5000, 'bob disconnected');
    await waitFor(() => node.testHook.sessionId('bob') !== bobSession, 3000, 'bob\'s session here is gone');
    expect(alice.connected).to.equal(true, 'alice stays');
    reading.resume(); // the device wakes up: it finds its connection gone and comes back
    await waitFor(() => disconnects.length > 0, 5000, 'bob sees the disconnect');
    await waitFor(() => bob.connected && node.testHook.sessionId('bob') !== undefined, 5000, 'bob back with a new session');
    bob.send({ dx: 1 });
    await waitFor(() => s1.applied.get('bob')?.includes(1) === true, 5000, 'and served');
  });
});
