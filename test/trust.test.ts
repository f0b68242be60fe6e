// The trust boundary: what one bad message from a player or a server can do. Each test sends
// the attack next to legitimate traffic (the positive control) and checks the node stays up.
import { createHash } from 'node:crypto';
import { expect } from 'chai';
import { SignJWT } from 'jose';
import { CLIENT_NAMESPACE, PROTOCOL_VERSION, SERVER_NAMESPACE } from '../shared/protocol.js';
import { JWT_SECRET, Mesh, NETWORK_SECRET, sleep, waitFor } from './harness.js';
import { droppedInputs, errorCount, handshakeOutcome, rawSocket, sendRaw } from './helpers.js';
import { sharedRedis } from './setup.js';

const deep = (levels: number): string => '['.repeat(levels) + ']'.repeat(levels);

describe('trust: one bad message never crashes a node, forges an ack or passes a limit', () => {
  let mesh: Mesh;
  beforeEach(() => { mesh = new Mesh(sharedRedis()); });
  afterEach(() => mesh.close());

  async function rawPlayer(url: string, player: string): Promise<{ sock: ReturnType<typeof rawSocket>; errors: string[] }> {
    const sock = rawSocket(url, CLIENT_NAMESPACE, { token: await mesh.token(player) });
    const errors: string[] = [];
    sock.on('error', (e: { code: string }) => errors.push(e.code));
    await new Promise((r) => sock.once('session', r));
    return { sock, errors };
  }

  it('a deeply nested input sent just before a small one is refused; the node serves on', async () => {
    const node = await mesh.addBridge();
    const s1 = await mesh.addServer(node, 's1');
    const alice = await mesh.addClient(node, 'alice');
    const { sock, errors } = await rawPlayer(mesh.url(node), 'mallory');
    sendRaw(sock, `2${CLIENT_NAMESPACE},["input",{"seq":1,"data":${deep(50_000)}}]`);
    sock.emit('input', { seq: 1, data: { dx: 1 } });
    await waitFor(() => errors.length === 1 && s1.applied.get('mallory')?.length === 1, 3000, 'deep refused, small applied');
    expect(errors).to.deep.equal(['BAD_INPUT']);
    alice.send({ dx: 1 });
    await waitFor(() => alice.ack === 1, 3000, 'the node still serves');
    expect(s1.applied.get('mallory')).to.deep.equal([1]);
    expect(await droppedInputs(node, 'bad_input')).to.equal(1);
    sock.close();
  });

  it('an oversized input is refused even when a small one follows in the same read', async () => {
    const node = await mesh.addBridge();
    const s1 = await mesh.addServer(node, 's1');
    const { sock, errors } = await rawPlayer(mesh.url(node), 'mallory');
    for (let seq = 1; seq <= 30; seq++) {
      sock.emit('input', { seq, data: 'x'.repeat(5000) });
      sock.emit('input', { seq: 100 + seq, data: 1 });
    }
    sock.emit('input', { seq: 1, data: 'small' });
    await waitFor(() => s1.applied.get('mallory')?.length === 1, 3000, 'the small input applied');
    await waitFor(() => errors.filter((c) => c === 'INPUT_TOO_LARGE').length === 30, 3000, 'thirty refusals');
    expect(s1.applied.get('mallory')).to.deep.equal([1]);
    expect(await errorCount(node, 'INPUT_TOO_LARGE')).to.equal(30);
    sock.close();
  });

  it('binary attachments are refused whatever their sizes, and nothing reaches the server', async () => {
    const node = await mesh.addBridge();
    const s1 = await mesh.addServer(node, 's1');
    const { sock, errors } = await rawPlayer(mesh.url(node), 'mallory');
    sock.emit('input', { seq: 1, data: Array.from({ length: 10 }, () => Buffer.alloc(4000)) });
    sock.emit('input', { seq: 1, data: { header: 'h'.repeat(900), blob: Buffer.alloc(1) } });
    sock.emit('input', { seq: 1, data: 'json' });
    await waitFor(() => errors.length === 2 && s1.applied.get('mallory')?.length === 1, 3000, 'two refused, one applied');
    expect(errors).to.deep.equal(['BAD_INPUT', 'BAD_INPUT']);
    expect(s1.applied.get('mallory')).to.deep.equal([1]);
    sock.close();
  });

  it('a game server sending a deeply nested item is refused; clients get the rest', async () => {
    const node = await mesh.addBridge();
    await mesh.addServer(node, 's1');
    const alice = await mesh.addClient(node, 'alice');
    const rogue = rawSocket(mesh.url(node), SERVER_NAMESPACE, {
      serverId: 'rogue',
      secret: NETWORK_SECRET,
      power: 1,
      protocol: PROTOCOL_VERSION,
    });
    const errors: string[] = [];
    rogue.on('error', (e: { code: string }) => errors.push(e.code));
    await new Promise((r) => rogue.once('welcome', r));
    const seen: unknown[] = [];
    alice.on('state', (s) => { if (s.kind === 'all') seen.push(s.data); });
    sendRaw(rogue, `2${SERVER_NAMESPACE},["state",[{"kind":"all","data":${deep(50_000)}}]]`);
    rogue.emit('state', [{ kind: 'all', data: 'after' }]);
    await waitFor(() => seen.length === 1 && errors.length === 1, 3000, 'deep refused, the next delivered');
    expect(seen).to.deep.equal(['after']);
    expect(errors).to.deep.equal(['BAD_INPUT']);
    rogue.close();
  });

  it('a server cannot acknowledge players it does not own, inputs it was not given, or on `all` items', async () => {
    // interestRadius 0: the victim sees its own area only, so each item it gets is one of the checks below.
    const node = await mesh.addBridge({ worldCols: 2, worldRows: 1, spawnAreas: '0,0', interestRadius: 0 });
    const s1 = await mesh.addServer(node, 's1');
    const { sock: victim } = await rawPlayer(mesh.url(node), 'victim');
    const s2 = await mesh.addServer(node, 's2');
    await node.testHook.assignArea('1,0', 's2');
    await waitFor(() => s2.sdk.areas.has('1,0') && s1.sdk.players.has('victim'), 2000, 'areas owned');
    const codes: Record<string, string[]> = { s1: [], s2: [] };
    for (const s of [s1, s2]) s.sdk.on('bridge-error', (e) => codes[s.id]!.push(e.code));
    const got: { data: unknown; acks?: Record<string, number> }[] = [];
    victim.on('state', (item: { data: unknown; acks?: Record<string, number> }) => { if (typeof item.data === 'string') got.push(item); });
    s1.sdk.pushUnchecked([{ kind: 'area', area: '0,0', epoch: s1.sdk.areas.get('0,0')!, data: 'owner', acks: { victim: 999_999 } }]);
    s2.sdk.pushUnchecked([{ kind: 'all', data: 'forged-all', acks: { victim: 999_999 } } as never]);
    s2.sdk.pushUnchecked([{ kind: 'area', area: '1,0', epoch: s2.sdk.areas.get('1,0')!, data: 'other', acks: { victim: 1 } }]);
    s2.sdk.pushUnchecked([{ kind: 'all', data: 'plain' }]);
    await waitFor(
      () => got.length === 2 && codes.s1!.length === 1 && codes.s2!.length === 2,
      3000,
      'the state delivered, the acks refused',
    );
    expect(got.map((i) => i.data)).to.deep.equal(['owner', 'plain'], 'the owner\'s state goes out, without the forged ack');
    expect(got.map((i) => i.acks?.victim)).to.deep.equal([undefined, undefined]);
    expect(codes).to.deep.equal({ s1: ['BAD_STATE'], s2: ['BAD_STATE', 'NOT_OWNER'] });
    victim.close();
  });

  it('the server SDK leaves out acks for players that moved away since the item was made', async () => {
    const node = await mesh.addBridge({ worldCols: 2, worldRows: 1, spawnAreas: '0,0' });
    const s1 = await mesh.addServer(node, 's1');
    const s2 = await mesh.addServer(node, 's2');
    await node.testHook.assignArea('1,0', 's2');
    const alice = await mesh.addClient(node, 'alice');
    alice.send({ dx: 0, dy: 0 });
    await waitFor(() => alice.ack === 1, 2000, 'alice on s1');
    expect((await node.testHook.handoff('alice', '1,0')).ok).to.equal(true);
    await waitFor(() => !s1.sdk.players.has('alice'), 2000, 's1 no longer holds alice');
    const codes: string[] = [];
    s1.sdk.on('bridge-error', (e) => codes.push(e.code));
    const epoch = s1.sdk.areas.get('0,0')!;
    s1.sdk.pushArea('0,0', 'through the SDK', { alice: 1 });
    s1.sdk.flush();
    s1.sdk.pushUnchecked([{ kind: 'area', area: '0,0', epoch, data: 'unchecked', acks: { alice: 1 } }]);
    await waitFor(() => codes.length > 0, 2000, 'the unchecked item refused');
    await sleep(100);
    expect(codes, 'only the unchecked item carried the ack').to.deep.equal(['NOT_OWNER']);
    expect(s2.sdk.players.has('alice')).to.equal(true);
  });
});

describe('trust: the small holes', () => {
  let mesh: Mesh;
  beforeEach(() => { mesh = new Mesh(sharedRedis()); });
  afterEach(() => mesh.close());

  it('the default namespace admits no one; a token without exp is refused; HTTP refusals are counted', async () => {
    const node = await mesh.addBridge();
    await mesh.addServer(node, 's1');
    const root = rawSocket(mesh.url(node), '/', {});
    expect(await handshakeOutcome(root)).to.equal('BAD_HANDSHAKE');
    root.close();
    const forever = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('eve').sign(new TextEncoder().encode(JWT_SECRET));
    const eve = rawSocket(mesh.url(node), CLIENT_NAMESPACE, { token: forever });
    expect(await handshakeOutcome(eve)).to.equal('BAD_TOKEN');
    eve.close();
    const ok = rawSocket(mesh.url(node), CLIENT_NAMESPACE, { token: await mesh.token('eve') });
    expect(await handshakeOutcome(ok)).to.equal('connected', 'the same player with an expiring token');
    ok.close();
    expect((await fetch(`${mesh.url(node)}/v1/nope`)).status).to.equal(404);
    expect((await fetch(`${mesh.url(node)}/v1/login`, { method: 'POST' })).status).to.equal(404);
    const http = (await node.testHook.metrics.errors.get()).values
      .filter((v) => v.labels.side === 'http')
      .map((v) => [v.labels.code, v.value]);
    expect(http).to.deep.equal([['NOT_FOUND', 1], ['DEV_LOGIN_DISABLED', 1]]);
  });

  it('a move to another area of the same server keeps the server\'s own state (no stale autosave)', async () => {
    const node = await mesh.addBridge({ worldCols: 2, worldRows: 1 });
    const s1 = await mesh.addServer(node, 's1', { snapshotMs: 50 });
    const alice = await mesh.addClient(node, 'alice');
    await node.testHook.assignArea('1,0', 's1');
    await waitFor(async () => (await node.testHook.map.loadPlayers(['alice'])).get('alice')?.snapshot !== undefined, 3000, 'an autosave');
    const attaches: { snapshot?: unknown; area: string }[] = [];
    s1.sdk.on('attach', (a) => attaches.push(a));
    alice.send({ dx: 1 });
    await waitFor(() => alice.ack === 1, 2000, 'moved a little');
    const r = await s1.sdk.handoff('alice', '1,0');
    expect(r.ok).to.equal(true);
    await waitFor(() => attaches.length === 1, 2000, 'attached in the new area');
    expect(attaches[0]).to.include({ area: '1,0' });
    expect(attaches[0]!.snapshot, 'no saved state handed to the server that holds the player').to.equal(undefined);
  });

  it('players joining at the same moment on three nodes spread their areas over the servers', async () => {
    const areas = Array.from({ length: 9 }, (_, i) => `${i % 3},${Math.floor(i / 3)}`);
    const opts = { worldCols: 3, worldRows: 3, spawnAreas: areas.join(' ') };
    const nodes = [await mesh.addBridge(opts), await mesh.addBridge(opts), await mesh.addBridge(opts)];
    for (const id of ['s1', 's2', 's3']) await mesh.addServer(nodes[0]!, id, { loadIntervalMs: 60_000 });
    // One player per spawn area (the bridge spawns a player by a hash of its id).
    const byArea = new Map<string, string>();
    for (let i = 0; byArea.size < areas.length; i++) {
      const area = areas[createHash('sha1').update(`j${i}`).digest().readUInt32BE(0) % areas.length]!;
      if (!byArea.has(area)) byArea.set(area, `j${i}`);
    }
    const clients = await Promise.all([...byArea.values()].map((p, i) => mesh.addClient(nodes[i % 3]!, p)));
    const per = new Map<string, number>();
    for (const c of clients) per.set(c.session!.server, (per.get(c.session!.server) ?? 0) + 1);
    expect(Math.max(...per.values()), JSON.stringify([...per])).to.be.at.most(5);
  });
});

describe('trust: game-server replies are parsed, never cast', () => {
  let mesh: Mesh;
  beforeEach(() => { mesh = new Mesh(sharedRedis()); });
  afterEach(() => mesh.close());

  it('a malformed export reply rolls the handoff back, with the reason, and leaves the record intact', async () => {
    const node = await mesh.addBridge({ worldCols: 2, worldRows: 1, spawnAreas: '0,0' });
    const rogue = rawSocket(mesh.url(node), SERVER_NAMESPACE, {
      serverId: 'rogue',
      secret: NETWORK_SECRET,
      power: 1,
      protocol: PROTOCOL_VERSION,
    });
    await new Promise((r) => rogue.once('welcome', r));
    expect(await rogue.timeout(2000).emitWithAck('sync:ready')).to.deep.equal({ ok: true }, 'a fresh server takes work once synced');
    const resumed: unknown[] = [];
    rogue.on('player:resume', (p: unknown) => resumed.push(p));
    rogue.on('player:export', (_p: unknown, ack: (r: unknown) => void) => ack({ snapshot: null, seq: 'not a seq' }));
    await mesh.addClient(node, 'alice');
    const s2 = await mesh.addServer(node, 's2');
    await node.testHook.assignArea('1,0', 's2');
    const r = await node.testHook.handoff('alice', '1,0');
    expect(r).to.include({ ok: false, code: 'HANDOFF_FAILED' });
    expect((r as { message: string }).message).to.match(/malformed reply: seq/);
    const rec = (await node.testHook.map.loadPlayers(['alice'])).get('alice')!;
    expect(rec).to.include({ server: 'rogue', seq: 0 });
    await waitFor(() => resumed.length === 1, 2000, 'the source told to resume');
    expect(s2.sdk.players.has('alice')).to.equal(false);
    rogue.close();
  });
});
