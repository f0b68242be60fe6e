import { expect } from 'chai';
import { SignJWT, exportSPKI, generateKeyPair } from 'jose';
import { MeshClient } from '../client-sdk/index.js';
import { GameServerClient } from '../gameserver-stub/sdk.js';
import { sha256 } from '../gameserver-stub/sdk-sync.js';
import { CLIENT_NAMESPACE, PROTOCOL_VERSION, SERVER_NAMESPACE } from '../shared/protocol.js';
import { parseArea } from '../shared/grid.js';
import { Mesh, NETWORK_SECRET, waitFor } from './harness.js';
import { droppedInputs, errorCount, handshakeOutcome, nextError, rawSocket } from './helpers.js';
import { sharedRedis } from './setup.js';

const RAW_SERVER = { serverId: 'raw', secret: NETWORK_SECRET, power: 1, protocol: PROTOCOL_VERSION };

describe('refusals: bad peers get a coded error, are counted, and change nothing', () => {
  let mesh: Mesh;
  beforeEach(() => { mesh = new Mesh(sharedRedis()); });
  afterEach(() => mesh.close());

  it('a refusal is answered once: through the ack when there is one, else as an error event; counted either way', async () => {
    const node = await mesh.addBridge({ maxChunkBytes: 4096 });
    await mesh.addServer(node, 's1');
    const raw = rawSocket(mesh.url(node), SERVER_NAMESPACE, RAW_SERVER);
    expect(await handshakeOutcome(raw)).to.equal('connected');
    const errors: string[] = [];
    raw.on('error', (e: { code: string }) => errors.push(e.code));
    const big = { id: 'a/0', version: 1, hash: '0'.repeat(64), data: Buffer.alloc(5000) };
    const ask = (event: string, p: unknown) => raw.timeout(3000).emitWithAck(event, p) as Promise<{ ok: boolean; code?: string }>;
    expect((await ask('sync:put', big)).code).to.equal('CHUNK_TOO_LARGE');
    expect((await ask('handoff', { player: 'nobody', area: '0,0' })).code).to.equal('NOT_OWNER');
    expect((await ask('handoff', { player: 5 })).code).to.equal('BAD_INPUT');
    // The same without an ack: an error event each. Events keep their order, so any error event of the acked
    // ones would have come first.
    raw.emit('sync:put', big);
    raw.emit('handoff', { player: 'nobody', area: '0,0' });
    await waitFor(() => errors.length === 2, 3000, 'the error events of the un-acked ones');
    expect(errors).to.deep.equal(['CHUNK_TOO_LARGE', 'NOT_OWNER']);
    expect([await errorCount(node, 'CHUNK_TOO_LARGE'), await errorCount(node, 'NOT_OWNER'), await errorCount(node, 'BAD_INPUT')])
      .to.deep.equal([2, 2, 1], 'every refusal counted once');
    raw.close();
  });

  it('one spelling per area: "00,0" is no area, at area:watch, handoff and chat', async () => {
    expect([parseArea('0,0'), parseArea('10,3'), parseArea('00,0'), parseArea('0,01'), parseArea('+1,0'), parseArea(' 1,0')])
      .to.deep.equal([[0, 0], [10, 3], undefined, undefined, undefined, undefined]);
    const node = await mesh.addBridge();
    const s1 = await mesh.addServer(node, 's1');
    await mesh.addClient(node, 'alice');
    const raw = rawSocket(mesh.url(node), SERVER_NAMESPACE, RAW_SERVER);
    expect(await handshakeOutcome(raw)).to.equal('connected');
    const refused = nextError(raw);
    raw.emit('area:watch', { areas: ['00,0'] });
    expect((await refused).code).to.equal('BAD_INPUT');
    expect(node.testHook.interest().subscribed).not.to.include('00,0');
    expect(await s1.sdk.handoff('alice', '0,00')).to.include({ ok: false, code: 'BAD_INPUT' });
    expect(await s1.sdk.postChat('area:00,0', 'hi').then(() => 'posted', (e: { code: string }) => e.code)).to.equal('BAD_CHANNEL');
    raw.close();
  });

  it('limits: rooms per client, uploads per server, the size of a sync:get reply and of an rpc result', async () => {
    const node = await mesh.addBridge({ maxRoomsPerClient: 2, syncPutsPerSecond: 1, maxSyncReplyBytes: 2048, maxRpcBytes: 1024 });
    const s1 = await mesh.addServer(node, 's1', { snapshotMs: 0, editEvery: 0 });
    const s2 = await mesh.addServer(node, 's2', { snapshotMs: 0, editEvery: 0 });
    const alice = await mesh.addClient(node, 'alice');
    const code = (p: Promise<unknown>) => p.then(() => 'ok', (e: { code: string }) => e.code);
    expect([await code(alice.chat.join('a')), await code(alice.chat.join('b')), await code(alice.chat.join('c'))])
      .to.deep.equal(['ok', 'ok', 'TOO_MANY_ROOMS']);
    await alice.chat.leave('a');
    expect(await code(alice.chat.join('c'))).to.equal('ok', 'room for one more once one is left');

    const raw = rawSocket(mesh.url(node), SERVER_NAMESPACE, RAW_SERVER);
    expect(await handshakeOutcome(raw)).to.equal('connected');
    type Reply = { ok: boolean; code?: string; retryAfterMs?: number };
    const ask = (event: string, p: unknown) => raw.timeout(3000).emitWithAck(event, p) as Promise<Reply>;
    const chunk = (i: number) => Buffer.alloc(1500, i);
    const puts: Reply[] = [];
    for (let i = 0; i < 5; i++) puts.push(await ask('sync:put', { id: `c/${i}`, version: 1, hash: sha256(chunk(i)), data: chunk(i) }));
    expect(puts.map((r) => r.code ?? 'ok')).to.deep.equal(['ok', 'ok', 'ok', 'ok', 'THROTTLED'], 'a burst of 4 at 1 a second');
    expect(puts[4]!.retryAfterMs).to.be.within(1, 1000);
    expect((await ask('sync:get', { ids: ['c/0', 'c/1'] })).code).to.equal('BAD_INPUT', '3,000 bytes over maxSyncReplyBytes');
    expect((await ask('sync:get', { ids: ['c/0'] })).ok).to.equal(true);
    raw.close();

    s2.sdk.handle('big', () => 'x'.repeat(5000));
    s2.sdk.handle('small', () => 'x'.repeat(100));
    expect(await code(s1.sdk.call('s2', 'small'))).to.equal('ok');
    expect(await code(s1.sdk.call('s2', 'big'))).to.equal('REMOTE_ERROR');
    for (const c of ['TOO_MANY_ROOMS', 'THROTTLED', 'BAD_INPUT', 'REMOTE_ERROR']) expect(await errorCount(node, c), c).to.be.greaterThan(0);
  });

  it('refuses a client with a bad token', async () => {
    const node = await mesh.addBridge();
    await mesh.addServer(node, 's1');
    const forged = new MeshClient({ urls: mesh.url(node), token: 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJtYWxsb3J5In0.bad' });
    mesh.clients.push(forged);
    const err = await forged.connect().then(() => undefined, (e: Error & { data?: { code?: string } }) => e);
    expect(err?.data?.code).to.equal('BAD_TOKEN');
    const none = rawSocket(mesh.url(node), CLIENT_NAMESPACE, {});
    expect(await handshakeOutcome(none)).to.equal('BAD_HANDSHAKE');
    none.close();
    expect(await errorCount(node, 'BAD_TOKEN')).to.equal(1);
    expect(await errorCount(node, 'BAD_HANDSHAKE')).to.equal(1);
  });

  it('accepts tokens signed with a private key when configured with its public key', async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
    const node = await mesh.addBridge({ jwtSecret: undefined, jwtPublicKey: await exportSPKI(publicKey) });
    await mesh.addServer(node, 's1');
    const token = await new SignJWT({}).setProtectedHeader({ alg: 'ES256' }).setSubject('dana').setExpirationTime('1h').sign(privateKey);
    const dana = new MeshClient({ urls: mesh.url(node), token });
    mesh.clients.push(dana);
    expect((await dana.connect()).player).to.equal('dana');
    const hs256 = rawSocket(mesh.url(node), CLIENT_NAMESPACE, { token: await mesh.token('mallory') });
    expect(await handshakeOutcome(hs256)).to.equal('BAD_TOKEN', 'an HS256 token is not accepted in public-key mode');
    hs256.close();
  });

  it('refuses a server with the wrong network secret or protocol', async () => {
    const node = await mesh.addBridge();
    const intruder = new GameServerClient({ url: mesh.url(node), serverId: 'evil', secret: 'not-the-secret', power: 1 });
    const err = await intruder.connect().then(() => undefined, (e: Error & { data?: { code?: string } }) => e);
    expect(err?.data?.code).to.equal('BAD_SECRET');
    const old = rawSocket(mesh.url(node), SERVER_NAMESPACE, {
      serverId: 'old',
      secret: NETWORK_SECRET,
      power: 1,
      protocol: PROTOCOL_VERSION + 1,
    });
    expect(await handshakeOutcome(old)).to.equal('PROTOCOL_MISMATCH');
    old.close();
    expect(await errorCount(node, 'BAD_SECRET')).to.equal(1);
    expect(node.testHook.cache.servers.has('evil')).to.equal(false);
  });

  it('answers a client that emits server events with UNKNOWN_EVENT, and forwards nothing', async () => {
    const node = await mesh.addBridge();
    const s1 = await mesh.addServer(node, 's1');
    const alice = await mesh.addClient(node, 'alice');
    const sock = rawSocket(mesh.url(node), CLIENT_NAMESPACE, { token: await mesh.token('mallory') });
    await new Promise((r) => sock.once('session', r));
    const errors: string[] = [];
    sock.on('error', (e: { code: string }) => errors.push(e.code));
    const seen: unknown[] = [];
    alice.on('state', (s) => { if (JSON.stringify(s).includes('forged')) seen.push(s); });
    sock.emit('state', [{ kind: 'all', data: 'forged' }]);
    sock.emit('inputs', [{ player: 'alice', seq: 1, data: 'forged' }]);
    sock.emit('load', { load: 0 });
    await waitFor(() => errors.length === 3, 2000, 'three errors');
    expect(errors).to.deep.equal(['UNKNOWN_EVENT', 'UNKNOWN_EVENT', 'UNKNOWN_EVENT']);
    // Positive control: a real input made after the forgeries goes through and comes back acked.
    alice.send({ dx: 1 });
    await waitFor(() => alice.ack === 1, 2000, 'a real input after the forgeries');
    expect(seen).to.deep.equal([]);
    expect(s1.applied.get('alice')).to.deep.equal([1], 'only the real input, not the forged one');
    expect(await errorCount(node, 'UNKNOWN_EVENT')).to.equal(3);
    sock.close();
  });

  it('refuses a client that claims to be another player', async () => {
    const node = await mesh.addBridge();
    const s1 = await mesh.addServer(node, 's1');
    await mesh.addClient(node, 'bob');
    const mismatch = rawSocket(mesh.url(node), CLIENT_NAMESPACE, { token: await mesh.token('mallory'), player: 'bob' });
    expect(await handshakeOutcome(mismatch)).to.equal('PLAYER_MISMATCH');
    mismatch.close();
    const mallory = await mesh.addClient(node, 'mallory');
    const err = nextError(mallory);
    (mallory as unknown as { socket: { emit(e: string, p: unknown): void } }).socket.emit('input', {
      seq: 1,
      data: { dx: 1 },
      player: 'bob',
    });
    expect((await err).code).to.equal('FORBIDDEN_PLAYER');
    // Positive control: mallory's own input, sent after, is delivered and acknowledged.
    mallory.send({ dx: 1 });
    await waitFor(() => mallory.ack === 1, 2000, 'mallory speaking for herself');
    expect(s1.applied.get('bob')).to.equal(undefined);
    expect(s1.applied.get('mallory')).to.deep.equal([1]);
    expect(await errorCount(node, 'PLAYER_MISMATCH')).to.equal(1);
    expect(await errorCount(node, 'FORBIDDEN_PLAYER')).to.equal(1);
  });

  it('drops state a server pushes for an area or player it does not own, or under a stale epoch', async () => {
    const [a, b] = [await mesh.addBridge(), await mesh.addBridge()];
    const s1 = await mesh.addServer(a, 's1');
    const s2 = await mesh.addServer(b, 's2');
    const alice = await mesh.addClient(a, 'alice');
    expect(alice.session?.server).to.equal('s1');
    const forged: unknown[] = [];
    alice.on('state', (s) => { if (JSON.stringify(s).includes('forged')) forged.push(s); });
    const errs: string[] = [];
    s2.sdk.on('bridge-error', (e) => errs.push(e.code));
    const epoch = s1.sdk.areas.get('0,0')!;
    s2.sdk.pushUnchecked([
      { kind: 'area', area: '0,0', epoch, data: 'forged' },
      { kind: 'player', player: 'alice', epoch: 1, data: 'forged' },
    ]);
    await waitFor(() => errs.length >= 1, 2000, 'NOT_OWNER');
    const s1errs: string[] = [];
    s1.sdk.on('bridge-error', (e) => s1errs.push(e.code));
    s1.sdk.pushUnchecked([{ kind: 'area', area: '0,0', epoch: epoch + 7, data: 'forged' }]);
    await waitFor(() => s1errs.length >= 1, 2000, 'STALE_EPOCH');
    expect(errs[0]).to.equal('NOT_OWNER');
    expect(s1errs[0]).to.equal('STALE_EPOCH');
    // Positive control: world state s2 pushes after its forgeries reaches alice across nodes.
    const control: unknown[] = [];
    alice.on('state', (s) => { if (JSON.stringify(s).includes('control')) control.push(s); });
    s2.sdk.pushAll({ control: true });
    await waitFor(() => control.length === 1, 2000, 'state pushed after the forgeries');
    expect(forged).to.deep.equal([]);
    expect(await errorCount(b, 'NOT_OWNER')).to.equal(1);
    const dropped = await b.testHook.metrics.stateDropped.get();
    expect(dropped.values.find((v) => v.labels.reason === 'NOT_OWNER')?.value).to.equal(2);
    // Both processes serve on.
    alice.send({ dx: 1 });
    await waitFor(() => alice.ack === 1, 2000, 'alice still served');
  });

  it('answers malformed and oversized inputs with an error, forwards nothing, and keeps the connection', async () => {
    const node = await mesh.addBridge({ maxInputBytes: 1024 });
    const s1 = await mesh.addServer(node, 's1');
    const alice = await mesh.addClient(node, 'alice');
    const raw = (alice as unknown as { socket: { emit(e: string, p: unknown): void } }).socket;
    const codes: string[] = [];
    alice.on('error', (e) => codes.push(e.code));
    raw.emit('input', 'not an object');
    raw.emit('input', { seq: 'one', data: {} });
    raw.emit('input', { seq: -4, data: {} });
    raw.emit('input', { seq: 1.5, data: {} });
    raw.emit('input', { seq: 1, data: {}, extra: true });
    raw.emit('input', { seq: 1, data: 'x'.repeat(5000) });
    await waitFor(() => codes.length === 6, 2000, 'six errors');
    expect(codes).to.deep.equal(['BAD_INPUT', 'BAD_INPUT', 'BAD_INPUT', 'BAD_INPUT', 'BAD_INPUT', 'INPUT_TOO_LARGE']);
    expect(await droppedInputs(node, 'bad_input')).to.equal(5);
    expect(await droppedInputs(node, 'too_large')).to.equal(1);
    // Positive control: a good input after the bad ones is the only one the server gets.
    alice.send({ dx: 1 });
    await waitFor(() => alice.ack === 1, 2000, 'a good input after the bad ones');
    expect(s1.applied.get('alice')).to.deep.equal([1]);
    expect(alice.connected).to.equal(true);
  });

  it('rate-limits a flooding client with RATE_LIMITED and still delivers everything in order after', async () => {
    const node = await mesh.addBridge({ inputsPerSecond: 200, inputBurst: 20 });
    const s1 = await mesh.addServer(node, 's1');
    const alice = await mesh.addClient(node, 'alice', { resendAfterMs: 200 });
    const codes = new Set<string>();
    alice.on('error', (e) => codes.add(e.code));
    for (let i = 0; i < 100; i++) alice.send({ dx: 1 });
    await waitFor(() => alice.ack === 100, 10_000, 'all 100 acked');
    expect([...codes]).to.deep.equal(['RATE_LIMITED']);
    expect(s1.applied.get('alice')).to.deep.equal(Array.from({ length: 100 }, (_, i) => i + 1));
  });
});
