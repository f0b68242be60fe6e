// Where a player resumes after its server restarts or crashes, and what a reconnecting server may
// claim. The rule (docs/mesh.md, zero loss): the new owner starts from the autosave and receives
// every input after it, from the client that kept them; what the dead server applied after its last
// autosave is applied again, nothing is lost while the client lives, and no player is left stuck.
import { expect } from 'chai';
import { GameServerClient } from '../gameserver-stub/sdk.js';
import type { JournalEntry } from '../gameserver-stub/reference-server.js';
import type { MeshClient } from '../client-sdk/index.js';
import { PROTOCOL_VERSION, SERVER_NAMESPACE, type PlayerAttach } from '../shared/protocol.js';
import { Mesh, NETWORK_SECRET, freePort, sleep, waitFor } from './harness.js';
import { handshakeOutcome, range, rawSocket } from './helpers.js';
import { sharedRedis } from './setup.js';

/** Sends at ~200 inputs/s per client until stopped: new inputs always race the re-sends. */
function flood(clients: MeshClient[]): () => Promise<void> {
  let running = true;
  const loop = (async () => {
    while (running) {
      for (const c of clients) c.send({ dx: 1 });
      await sleep(5);
    }
  })();
  return async () => {
    running = false;
    await loop;
  };
}

/**
 * Per player: the new owner was attached at the autosave (seq s, with resync) and applied exactly
 * (s+1 .. final ack), once each, in order: the inputs the dead server applied after s again, then on.
 * Returns how many inputs were applied again (the dead server had applied them after its autosave).
 */
function expectNothingLost(
  journal: JournalEntry[],
  dead: string,
  next: string,
  attaches: PlayerAttach[],
  clients: MeshClient[],
): number {
  let replayed = 0;
  for (const c of clients) {
    const player = c.player!;
    const deadLast = journal.filter((e) => e.player === player && e.server === dead).at(-1)?.seq ?? 0;
    const after = journal.filter((e) => e.player === player && e.server === next).map((e) => e.seq);
    const attach = attaches.filter((a) => a.player === player).at(-1)!;
    expect(attach.resync, `${player} attached with resync`).to.equal(true);
    expect(after, `${player}: every input after its autosave, once, in order`).to.deep.equal(range(attach.seq + 1, c.ack));
    replayed += deadLast - attach.seq;
  }
  return replayed;
}

describe('resume points: restarts, crashes and reconnecting servers', () => {
  let mesh: Mesh;
  beforeEach(() => { mesh = new Mesh(sharedRedis()); });
  afterEach(() => mesh.close());

  it('a server restarted within its lease (a fresh process) resumes every player where its client stands', async function () {
    this.timeout(30_000);
    const [a, b] = [await mesh.addBridge(), await mesh.addBridge()];
    const journal: JournalEntry[] = [];
    const first = await mesh.addServer(b, 's1', { journal, snapshotMs: 300 });
    const clients = await Promise.all(['p1', 'p2', 'p3', 'p4'].map((p, i) => mesh.addClient([a, b][i % 2]!, p, { maxUnacked: 100_000 })));
    const stop = flood(clients);
    await waitFor(() => clients.every((c) => c.ack > 200), 5000, 'traffic flowing');
    first.stop(); // the process is gone, its memory with it
    await sleep(100);
    const second = await mesh.addServer(a, 's1', { journal: [], snapshotMs: 300 });
    const restarted = second.options.journal!;
    const attaches: PlayerAttach[] = [];
    second.sdk.on('attach', (x) => attaches.push(x));
    await sleep(500);
    await stop();
    await waitFor(() => clients.every((c) => c.pending === 0), 10_000, 'every client acknowledged (none stuck)');
    const all = [...journal, ...restarted.map((e) => ({ ...e, server: 's1-restarted' }))];
    const replayed = expectNothingLost(all, 's1', 's1-restarted', attaches, clients);
    // Positive control: the dead process had applied inputs its autosave did not cover (else nothing was at stake).
    expect(replayed).to.be.greaterThan(0);
    console.log(`      restart within the lease: ${replayed} inputs applied after the last autosave, applied again; 0 lost, 0 stuck`);
  });

  it('crash recovery: the new owner gets the client\'s held inputs from the oldest, even while new ones flood in', async function () {
    this.timeout(30_000);
    const opts = { serverLeaseMs: 1000, leaseCheckMs: 200 };
    const [a, b] = [await mesh.addBridge(opts), await mesh.addBridge(opts)];
    const journal: JournalEntry[] = [];
    const s1 = await mesh.addServer(a, 's1', { journal, snapshotMs: 300 });
    const clients = await Promise.all(['k1', 'k2', 'k3'].map((p, i) => mesh.addClient([a, b][i % 2]!, p, { maxUnacked: 100_000 })));
    const s2 = await mesh.addServer(b, 's2', { journal });
    const attaches: PlayerAttach[] = [];
    s2.sdk.on('attach', (x) => attaches.push(x));
    const stop = flood(clients);
    await waitFor(() => clients.every((c) => c.ack > 200), 5000, 'traffic flowing');
    s1.stop(); // gone without a drain: recovered once its lease runs out
    await waitFor(() => clients.every((c) => s2.sdk.players.has(c.player!)), 5000, 'recovered to s2');
    await sleep(300);
    await stop();
    await waitFor(() => clients.every((c) => c.pending === 0), 10_000, 'every client acknowledged');
    const replayed = expectNothingLost(journal, 's1', 's2', attaches, clients);
    expect(replayed).to.be.greaterThan(0);
    console.log(`      crash recovery under a flood: ${replayed} inputs applied after the last autosave, applied again; 0 lost`);
  });

  for (const move of ['handoff', 'area move'] as const) {
    it(`a recovered player moved (${move}) before its first input: the next owner is owed the resync too`, async function () {
      this.timeout(20_000);
      // heldInputs 0: the client keeps nothing it saw acknowledged, so after the crash its next seq jumps past the autosave.
      const node = await mesh.addBridge({ serverLeaseMs: 1000, leaseCheckMs: 200, heldInputs: 0 });
      const journal: JournalEntry[] = [];
      const s1 = await mesh.addServer(node, 's1', { journal, snapshotMs: 0 });
      const others = [await mesh.addServer(node, 's2', { journal }), await mesh.addServer(node, 's3', { journal })];
      await node.testHook.assignArea('0,0', 's1');
      await node.testHook.assignArea('1,0', 's2');
      await node.testHook.assignArea('2,0', 's3');
      const attaches: (PlayerAttach & { server: string })[] = [];
      for (const s of others) s.sdk.on('attach', (x) => attaches.push({ ...x, server: s.id }));
      const alice = await mesh.addClient(node, 'alice');
      for (let i = 0; i < 10; i++) alice.send({ dx: 1 });
      await waitFor(() => alice.ack === 10, 3000, 'served by s1');
      s1.stop();
      await waitFor(() => others.some((s) => s.sdk.players.has('alice')), 5000, 'recovered');
      const recovered = others.find((s) => s.sdk.players.has('alice'))!;
      const next = others.find((s) => s !== recovered)!;
      const rescued = attaches.at(-1)!;
      expect(rescued).to.include({ server: recovered.id, resync: true });
      expect(rescued.seq, 'attached at the join (no autosave): below what the client saw acknowledged').to.be.below(10);
      if (move === 'handoff') expect((await node.testHook.handoff('alice', next.id === 's2' ? '1,0' : '2,0')).ok).to.equal(true);
      else await node.testHook.moveArea('0,0', next.id);
      await waitFor(() => next.sdk.players.has('alice'), 3000, 'moved');
      const moved = attaches.at(-1)!;
      expect(moved.server).to.equal(next.id);
      expect(moved.resync, 'the move carried the resync the first input never cleared').to.equal(true);
      alice.send({ dx: 1 });
      await waitFor(() => alice.ack === 11, 3000, 'the next input applied by the new owner');
      expect(journal.filter((e) => e.server === next.id).map((e) => e.seq)).to.deep.equal([11]);
      // Positive control: once an input went through, a further move owes no resync.
      if (move === 'handoff') expect((await node.testHook.handoff('alice', recovered.id === 's2' ? '1,0' : '2,0')).ok).to.equal(true);
      else await node.testHook.moveArea('0,0', recovered.id);
      await waitFor(() => attaches.at(-1)!.server === recovered.id, 3000, 'moved back');
      expect(attaches.at(-1)!.resync).to.equal(undefined);
    });
  }

  it('a server reconnecting with an epoch it was never given, or seqs it was never sent, is refused', async () => {
    const node = await mesh.addBridge();
    const s1 = await mesh.addServer(node, 's1');
    const alice = await mesh.addClient(node, 'alice');
    for (let i = 0; i < 5; i++) alice.send({ dx: 1 });
    await waitFor(() => alice.ack === 5, 3000, 'served');
    const epoch = s1.sdk.epoch;
    const auth = { serverId: 's1', secret: NETWORK_SECRET, power: 1, protocol: PROTOCOL_VERSION };
    const future = rawSocket(mesh.url(node), SERVER_NAMESPACE, { ...auth, epoch: epoch + 50 });
    expect(await handshakeOutcome(future)).to.equal('FENCED');
    future.close();
    const greedy = rawSocket(mesh.url(node), SERVER_NAMESPACE, { ...auth, epoch, players: { alice: 9e15 } });
    expect(await handshakeOutcome(greedy)).to.equal('BAD_HANDSHAKE');
    greedy.close();
    const honest = rawSocket(mesh.url(node), SERVER_NAMESPACE, { ...auth, epoch, players: { alice: 5 } });
    expect(await handshakeOutcome(honest)).to.equal('connected', 'the positive control: a true claim is accepted');
    honest.close();
  });

  it('per-server keys: a listed id needs its own key; others still join with the network secret', async () => {
    const node = await mesh.addBridge({ serverKeys: 's1:key-of-s1-0123456789' });
    const url = mesh.url(node);
    const withSecret = new GameServerClient({ url, serverId: 's1', secret: NETWORK_SECRET, power: 1 });
    const err = await withSecret.connect().then(() => undefined, (e: Error & { data?: { code?: string } }) => e);
    expect(err?.data?.code).to.equal('BAD_SECRET');
    const own = new GameServerClient({ url, serverId: 's1', secret: 'key-of-s1-0123456789', power: 1 });
    expect((await own.connect()).serverId).to.equal('s1');
    const other = new GameServerClient({ url, serverId: 's2', secret: NETWORK_SECRET, power: 1 });
    expect((await other.connect()).serverId).to.equal('s2');
    own.close();
    other.close();
    const strict = await mesh.addBridge({ serverKeys: { s1: 'key-of-s1-0123456789' }, serverKeysOnly: true });
    const unlisted = rawSocket(mesh.url(strict), SERVER_NAMESPACE, {
      serverId: 's3',
      secret: NETWORK_SECRET,
      power: 1,
      protocol: PROTOCOL_VERSION,
    });
    expect(await handshakeOutcome(unlisted)).to.equal('BAD_SECRET');
    unlisted.close();
  });

  it('the game-server SDK fails over along its URL list, and registers afresh after FENCED sent as an error', async () => {
    const node = await mesh.addBridge();
    const dead = `http://127.0.0.1:${await freePort()}`;
    const sdk = new GameServerClient({ url: [dead, mesh.url(node)], serverId: 's1', secret: NETWORK_SECRET, power: 1 });
    const first = await sdk.connect();
    expect(first.node).to.equal(node.id);
    const codes: string[] = [];
    sdk.on('bridge-error', (e) => codes.push(e.code));
    const again = new Promise<{ epoch: number }>((r) => sdk.once('welcome', r));
    expect(await node.testHook.map.setServerStatus('s1', first.epoch, 'dead')).to.equal(true);
    const w = await again;
    expect(codes).to.include('FENCED');
    expect(w.epoch).to.be.greaterThan(first.epoch);
    sdk.close();
  });

  it('session.ack after a bridge node dies is the last seq the server applied', async () => {
    const [a, b] = [await mesh.addBridge(), await mesh.addBridge()];
    const s1 = await mesh.addServer(b, 's1');
    const alice = await mesh.addClient([a, b], 'alice');
    for (let i = 0; i < 50; i++) alice.send({ dx: 1 });
    await waitFor(() => alice.ack === 50, 3000, 'served');
    const resumed = new Promise<{ ack: number; node: string }>((r) => alice.once('session', r));
    await a.close();
    const s = await resumed;
    expect(s).to.include({ node: b.id, ack: 50 });
    expect(s1.applied.get('alice')).to.deep.equal(range(1, 50));
  });

  it('a fresh client joining while its server\'s link node has just died gets the true ack, never a guess', async function () {
    this.timeout(20_000);
    const [a, b] = [await mesh.addBridge(), await mesh.addBridge()];
    // s1 links through b and fails over to a when b goes.
    const s1 = await mesh.addServer(b, 's1', { url: [mesh.url(b), mesh.url(a)] });
    const first = await mesh.addClient(a, 'alice');
    for (let i = 0; i < 50; i++) first.send({ dx: 1 });
    await waitFor(() => first.ack === 50, 3000, 'served');
    first.close(); // the page is closed; the player's session waits out its grace
    await b.close(); // the node holding s1's link goes; s1 re-links through a a moment later
    const reloaded = await mesh.addClient(a, 'alice'); // a fresh page: it holds nothing, knows no ack
    expect(reloaded.session!.ack).to.equal(50, 'the last seq s1 was given');
    reloaded.send({ dx: 1 });
    await waitFor(() => reloaded.ack === 51, 5000, 'its first input (51) applied');
    expect(s1.applied.get('alice')).to.deep.equal(range(1, 51));
  });
});
