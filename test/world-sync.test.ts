import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { Cluster } from 'ioredis';
import { sha256 } from '../gameserver-stub/sdk-sync.js';
import type { ReferenceServer } from '../gameserver-stub/reference-server.js';
import { Keys } from '../shared/keys.js';
import { PROTOCOL_VERSION, SERVER_NAMESPACE, type ChunkData, type ErrorCode } from '../shared/protocol.js';
import { Mesh, NETWORK_SECRET, sleep, waitFor } from './harness.js';
import { errorCount, handshakeOutcome, rawSocket, seedLastArea } from './helpers.js';
import { sharedRedis } from './setup.js';

/** Bytes that differ per id and version, of a given size. */
const bytesOf = (id: string, version: number, size: number) => Buffer.alloc(size, `${id}#${version}|`);
const SYNC = { syncIntervalMs: 100 };
const ROGUE = { serverId: 'rogue', secret: NETWORK_SECRET, power: 1, protocol: PROTOCOL_VERSION };
/** Servers whose players edit nothing: every chunk in these tests is put by the test itself. */
const QUIET = { editEvery: 0, snapshotMs: 0 };

async function putAll(server: ReferenceServer, ids: string[], size: number, version = 1): Promise<void> {
  for (const id of ids) {
    const r = await server.sdk.sync.put(id, bytesOf(id, version, size));
    expect(r, id).to.deep.equal({ ok: true, stored: true });
  }
}

describe('world sync: hashed chunk manifests, registration, the listing', () => {
  let mesh: Mesh;
  beforeEach(() => { mesh = new Mesh(sharedRedis()); });
  afterEach(() => mesh.close());

  it('two servers change chunks; a third fetches exactly the changed ones, and only again what changes again', async () => {
    const [a, b] = [await mesh.addBridge(SYNC), await mesh.addBridge(SYNC)];
    const s1 = await mesh.addServer(a, 's1', QUIET);
    const s2 = await mesh.addServer(b, 's2', QUIET);
    const s3 = await mesh.addServer(a, 's3', QUIET);
    const size = 4096;
    await putAll(s1, ['0,0/0', '0,0/1', '0,0/2'], size);
    await putAll(s2, ['1,0/0', '1,0/1'], size);
    await waitFor(() => s3.sdk.sync.chunks.size === 5, 5000, 's3 holds the five chunks');
    expect(s3.sdk.sync.fetchedBytes).to.equal(5 * size, 'fetched the five changed chunks, each once');
    await waitFor(() => s1.sdk.sync.chunks.size === 5 && s2.sdk.sync.chunks.size === 5, 5000, 'the uploaders hold each other’s');
    expect(s1.sdk.sync.fetchedBytes).to.equal(2 * size, 's1 fetched only s2’s two chunks, not its own');
    expect(s2.sdk.sync.fetchedBytes).to.equal(3 * size);
    for (const [id, c] of s3.sdk.sync.chunks) expect(c.data.equals(bytesOf(id, 1, size)), id).to.equal(true);

    await s1.sdk.sync.put('0,0/1', bytesOf('0,0/1', 2, size));
    await waitFor(() => s3.sdk.sync.chunks.get('0,0/1')?.version === 2, 5000, 's3 has version 2');
    await sleep(300); // three more announcement rounds go by: nothing else is fetched
    expect(s3.sdk.sync.fetchedBytes).to.equal(6 * size, 'only the chunk that changed again');
    expect(s3.sdk.sync.chunks.get('0,0/1')!.data.equals(bytesOf('0,0/1', 2, size))).to.equal(true);
  });

  it('a server that joins late gets everything before it is ready, then is the first to take a new area', async () => {
    // A budget that makes the late server's sync last about a second, to look at it meanwhile.
    const cfg = { ...SYNC, syncBytesPerSecond: 512 * 1024, loadFormula: 'players * 2', worldCols: 4, worldRows: 1, sessionGraceMs: 0 };
    const [a, b] = [await mesh.addBridge(cfg), await mesh.addBridge(cfg)];
    const s1 = await mesh.addServer(a, 's1', { ...QUIET, loadIntervalMs: 50 });
    const s2 = await mesh.addServer(b, 's2', { ...QUIET, loadIntervalMs: 50 });
    const ids = Array.from({ length: 40 }, (_, i) => `${i % 2},0/${i}`);
    await putAll(s1, ids.slice(0, 20), 16 * 1024);
    await putAll(s2, ids.slice(20), 16 * 1024);
    await mesh.addClient(a, 'alice');
    await b.testHook.assignArea('1,0', 's2');
    await seedLastArea(mesh, 'bob', '1,0');
    await mesh.addClient(b, 'bob');
    await waitFor(() => [...a.testHook.cache.servers.values()].every((s) => s.load > 0), 3000, 's1 and s2 report load');

    const late = mesh.addServer(b, 's4', { ...QUIET, loadIntervalMs: 50 });
    await waitFor(() => a.testHook.cache.servers.get('s4')?.status === 'syncing', 3000, 's4 registered, syncing');
    // While syncing it takes no work: a player in an unloaded area goes to a busy server.
    await seedLastArea(mesh, 'carl', '2,0');
    const carl = await mesh.addClient(a, 'carl');
    expect(carl.session?.server).to.be.oneOf(['s1', 's2']);
    const s4 = await late;
    expect(s4.sdk.status).to.equal('ready');
    expect(s4.sdk.sync.chunks.size).to.equal(40, 'everything, before ready');
    expect(s4.sdk.sync.fetchedBytes).to.equal(40 * 16 * 1024);
    expect(s4.sdk.sync.throttled).to.be.greaterThan(0, 'the budget paced it');
    for (const id of ids) expect(s4.sdk.sync.chunks.get(id)!.hash, id).to.equal(sha256(bytesOf(id, 1, 16 * 1024)));
    await waitFor(() => a.testHook.cache.servers.get('s4')?.status === 'ready', 2000, 'ready in every node’s view');

    // Load 0: the first choice for a new area.
    await seedLastArea(mesh, 'dave', '3,0');
    const dave = await mesh.addClient(a, 'dave');
    expect(dave.session?.server).to.equal('s4');
  });

  it('the throttle holds: a server fetches at its syncBytesPerSecond, within 15 %', async () => {
    const budget = 1024 * 1024;
    const node = await mesh.addBridge({ ...SYNC, syncBytesPerSecond: budget });
    const s1 = await mesh.addServer(node, 's1', QUIET);
    const s2 = await mesh.addServer(node, 's2', { ...QUIET, sync: { batchBytes: 64 * 1024 } });
    const arrivals: { at: number; bytes: number }[] = [];
    s2.sdk.sync.on('chunk', (_id, c) => arrivals.push({ at: performance.now(), bytes: c.data.length }));
    const ids = Array.from({ length: 200 }, (_, i) => `0,0/${i}`);
    await putAll(s1, ids, 16 * 1024); // 3.2 MB: about 3 s at the budget
    await waitFor(() => arrivals.length === 200, 10_000, 's2 fetched all');
    // From the first reply to the last: the bytes after the first reply over the time they took.
    const first = arrivals[0]!.at;
    const span = (arrivals.at(-1)!.at - first) / 1000;
    const bytes = arrivals.filter((x) => x.at > first).reduce((sum, x) => sum + x.bytes, 0);
    const rate = bytes / span;
    console.log(`      fetched ${(bytes / 1e6).toFixed(2)} MB in ${span.toFixed(2)} s: ${(rate / 1024).toFixed(0)} KiB/s ` +
      `against a budget of ${budget / 1024} KiB/s (${s2.sdk.sync.throttled} THROTTLED replies)`);
    expect(rate).to.be.within(budget * 0.85, budget * 1.15);
  });

  it('identical bytes are stored once, and deleted with the last chunk that refers to them', async () => {
    const node = await mesh.addBridge(SYNC);
    const s1 = await mesh.addServer(node, 's1', QUIET);
    const same = Buffer.alloc(2048, 'stone');
    for (const id of ['0,0/0', '0,0/1', '1,0/0']) {
      expect(await s1.sdk.sync.put(id, same)).to.deep.equal({ ok: true, stored: id === '0,0/0' });
    }
    const redis = await mesh.connect();
    const keys = new Keys('mb', mesh.world);
    // KEYS answers for one server: on a cluster, ask every master.
    const servers = redis instanceof Cluster ? redis.nodes('master') : [redis];
    const stored = async () => (await Promise.all(servers.map((s) => s.keys(keys.chunkBytes('*'))))).flat().length;
    try {
      expect(await stored()).to.equal(1);
      expect(await redis.hget(keys.chunkRefs, sha256(same))).to.equal('3');
      for (const id of ['0,0/0', '0,0/1']) await s1.sdk.sync.put(id, Buffer.alloc(2048, id));
      expect(await stored()).to.equal(3, 'the shared bytes, still referred to by 1,0/0, and two new ones');
      await s1.sdk.sync.put('1,0/0', Buffer.alloc(2048, 'dirt'));
      expect(await stored()).to.equal(3, 'no chunk refers to the shared bytes any more: deleted');
      expect(await redis.exists(keys.chunkBytes(sha256(same)))).to.equal(0);
      const counted = (await node.testHook.metrics.syncChunks.get()).values;
      expect(counted.find((v) => v.labels.outcome === 'deduplicated')?.value).to.equal(2);
    } finally {
      redis.disconnect();
    }
  });

  it('an area move coordinated by another node hands a raw target server the chunk bytes as binary, intact', async () => {
    const [a, b] = [await mesh.addBridge(SYNC), await mesh.addBridge(SYNC)];
    const s1 = await mesh.addServer(a, 's1', QUIET);
    await mesh.addClient(a, 'alice'); // 0,0 placed on s1
    const bytes = bytesOf('0,0/0', 1, 3000);
    await s1.sdk.sync.put('0,0/0', bytes);
    // A server written without our SDK, linked through b: what does it receive?
    const raw = rawSocket(mesh.url(b), SERVER_NAMESPACE, { ...ROGUE, serverId: 'raw' });
    const imported = new Promise<{ chunks?: { id: string; data: unknown }[] }>((resolve) => {
      raw.on('area:import', (payload: { chunks?: { id: string; data: unknown }[] }, ack: (r: { ok: boolean }) => void) => {
        ack({ ok: true });
        resolve(payload);
      });
    });
    expect(await handshakeOutcome(raw)).to.equal('connected');
    await raw.timeout(3000).emitWithAck('sync:ready');
    await waitFor(() => a.testHook.cache.servers.get('raw')?.status === 'ready', 3000, 'raw ready');
    expect(await a.testHook.moveArea('0,0', 'raw')).to.be.a('number'); // coordinated by a; raw's link is on b
    const chunk = (await imported).chunks?.find((c) => c.id === '0,0/0');
    expect(chunk?.data, 'binary, not {"type":"Buffer","data":[…]}').to.be.instanceOf(Uint8Array);
    expect(Buffer.compare(Buffer.from(chunk!.data as Uint8Array), bytes)).to.equal(0);
    raw.close();
  });

  it('refuses bad uploads and fetches with their codes, counts them, stores and forwards nothing', async () => {
    const node = await mesh.addBridge({ ...SYNC, maxChunkBytes: 4096, maxSyncIds: 8 });
    const s1 = await mesh.addServer(node, 's1', QUIET);
    const witness = await mesh.addServer(node, 's2', QUIET);
    const announced: string[] = [];
    witness.sdk.sync.on('chunk', (id) => announced.push(id));
    await s1.sdk.sync.put('0,0/0', bytesOf('a', 1, 1000), 5);
    await waitFor(() => announced.includes('0,0/0'), 3000, 'a good upload reaches the witness (positive control)');
    const raw = rawSocket(mesh.url(node), SERVER_NAMESPACE, ROGUE);
    expect(await handshakeOutcome(raw)).to.equal('connected');
    type Reply = { ok: boolean; code?: ErrorCode };
    const ask = (event: string, ...args: unknown[]) => raw.timeout(3000).emitWithAck(event, ...args) as Promise<Reply>;
    const put = (c: Partial<ChunkData> & Record<string, unknown>) => ask('sync:put', c);
    const data = bytesOf('b', 1, 1000);
    const cases: [string, Promise<{ ok: boolean; code?: ErrorCode }>, ErrorCode][] = [
      ['wrong hash', put({ id: '0,0/1', version: 1, hash: sha256(Buffer.from('other')), data }), 'BAD_HASH'],
      ['oversized', put({ id: '0,0/1', version: 1, hash: sha256(Buffer.alloc(5000)), data: Buffer.alloc(5000) }), 'CHUNK_TOO_LARGE'],
      ['stale version', put({ id: '0,0/0', version: 5, hash: sha256(data), data }), 'STALE_VERSION'],
      ['older version', put({ id: '0,0/0', version: 4, hash: sha256(data), data }), 'STALE_VERSION'],
      ['data as text', put({ id: '0,0/1', version: 1, hash: sha256(data), data: data.toString('base64') as never }), 'BAD_INPUT'],
      ['bad id', put({ id: 'a b', version: 1, hash: sha256(data), data: Buffer.from('x') }), 'BAD_INPUT'],
      ['unknown id', ask('sync:get', { ids: ['0,0/0', 'nowhere/9'] }), 'UNKNOWN_CHUNK'],
      ['too many ids', ask('sync:get', { ids: Array.from({ length: 9 }, (_, i) => `x/${i}`) }), 'BAD_INPUT'],
      ['too many copies of one id', ask('sync:get', { ids: Array.from({ length: 10_000 }, () => '0,0/0') }), 'BAD_INPUT'],
      ['malformed manifest request', ask('sync:manifest', { since: 'yesterday' }), 'BAD_INPUT'],
    ];
    for (const [what, reply, code] of cases) expect(await reply, what).to.include({ ok: false, code });
    for (const code of ['BAD_HASH', 'CHUNK_TOO_LARGE', 'STALE_VERSION', 'BAD_INPUT', 'UNKNOWN_CHUNK'])
      expect(await errorCount(node, code), code).to.be.greaterThan(0);

    // A connection replaced by a newer registration of the same id is no longer registered.
    const newer = rawSocket(mesh.url(node), SERVER_NAMESPACE, ROGUE);
    expect(await handshakeOutcome(newer)).to.equal('connected');
    const late = await put({ id: '0,0/1', version: 1, hash: sha256(data), data }).catch(() => ({ ok: false, code: 'DISCONNECTED' }));
    expect(late.code).to.be.oneOf(['NOT_REGISTERED', 'DISCONNECTED']);
    newer.close();
    raw.close();

    const stored = await node.testHook.chunks.index();
    expect(stored.map((c) => `${c.id}@${c.version}`)).to.deep.equal(['0,0/0@5'], 'nothing of the bad uploads was stored');
    await sleep(300);
    expect(announced).to.deep.equal(['0,0/0'], 'nothing was forwarded');
    expect(s1.sdk.connected).to.equal(true);
  });

  it('recovery restores an area’s chunks from the store: its autosave refers to them by id and version', async () => {
    const node = await mesh.addBridge({ ...SYNC, serverLeaseMs: 600, leaseCheckMs: 100 });
    const s1 = await mesh.addServer(node, 's1', { editEvery: 0, snapshotMs: 50, loadIntervalMs: 100 });
    await mesh.addClient(node, 'alice'); // s1 loads the spawn area 0,0
    // s2 is too busy to sync: it skips every announcement, so whatever chunk it holds came with the area.
    const s2 = await mesh.addServer(node, 's2', { editEvery: 0, snapshotMs: 0, loadIntervalMs: 100, sync: { busy: () => true } });
    let skipped = 0;
    s2.sdk.sync.on('skipped', () => skipped++);
    await putAll(s1, ['0,0/0', '0,0/1'], 1024);
    await waitFor(() => skipped > 0, 2000, 's2 skipped the announcement');
    expect(s2.sdk.sync.chunks.size).to.equal(0);
    const imported: string[] = [];
    s2.sdk.sync.on('chunk', (id, c) => imported.push(`${id}@${c.version}:${c.data.equals(bytesOf(id, 1, 1024))}`));
    await sleep(200); // an autosave refers to both chunks
    s1.stop(); // gone without a word: recovered after its lease
    await waitFor(() => node.testHook.cache.areas.get('0,0')?.server === 's2', 5000, 's2 recovered 0,0');
    await waitFor(() => imported.length >= 2, 2000, 's2 got the chunks');
    expect(imported).to.include.members(['0,0/0@1:true', '0,0/1@1:true']);
  });

  it('the oldest live node posts the listing; when it dies the next oldest takes over within one lease', async () => {
    const posts: { at: number; body: { postedBy: string; name: string; servers: { id: string }[]; players: number; url: string } }[] = [];
    const sink = createServer((req: IncomingMessage, res) => {
      let body = '';
      req.on('data', (c: Buffer) => { body += c.toString(); });
      req.on('end', () => {
        posts.push({ at: Date.now(), body: JSON.parse(body) as (typeof posts)[number]['body'] });
        res.end('ok');
      });
    });
    await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
    const listingUrl = `http://127.0.0.1:${(sink.address() as AddressInfo).port}/list`;
    const lease = 900;
    const cfg = { listingUrl, listingIntervalMs: 100, listingLeaseMs: lease, networkName: 'Test Net', publicUrl: 'https://play.example' };
    try {
      const first = await mesh.addBridge(cfg);
      await sleep(50);
      const second = await mesh.addBridge(cfg);
      await mesh.addServer(second, 's1', QUIET);
      await mesh.addClient(second, 'alice');
      await waitFor(() => posts.some((p) => p.body.players === 1), 3000, 'a listing with alice');
      expect(new Set(posts.map((p) => p.body.postedBy))).to.deep.equal(new Set([first.id]), 'only the oldest node posts');
      expect(posts.at(-1)!.body).to.deep.include({ name: 'Test Net', url: 'https://play.example' });
      expect(posts.at(-1)!.body.servers.map((s) => s.id)).to.deep.equal(['s1']);

      const died = Date.now();
      mesh.bridges.splice(mesh.bridges.indexOf(first), 1);
      await first.close(); // its heartbeat ends; its lease runs out by itself
      await waitFor(() => posts.some((p) => p.body.postedBy === second.id), 5000, 'the next oldest posts');
      const took = posts.find((p) => p.body.postedBy === second.id)!.at - died;
      console.log(`      listing leader died; the next posted after ${took} ms (lease ${lease} ms)`);
      expect(took).to.be.at.most(lease + 100, 'within one lease');
      expect(posts.filter((p) => p.at > died + 50).every((p) => p.body.postedBy === second.id)).to.equal(true);
    } finally {
      sink.close();
    }
  });
});

