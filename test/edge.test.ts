// The edges a request from outside meets before the protocol (issue 25): browser origins on the upgrade,
// faults in any HTTP-level hook, ids that could name another id's Redis keys, and the operator views.
import { readdirSync, readFileSync } from 'node:fs';
import { expect } from 'chai';
import { FaultBudget } from '../bridge/ops/edge-guard.js';
import { originRefusal } from '../bridge/relay/socket-server.js';
import { rawHttp, upgradeRequest } from '../chaos/raw-http.js';
import { ConfigError, loadBridgeConfig } from '../shared/config.js';
import { Keys } from '../shared/keys.js';
import { PROTOCOL_VERSION, SERVER_NAMESPACE, StateBatchSchema, SYSTEM_SENDER_PREFIX, isStateBatch } from '../shared/protocol.js';
import { Mesh, NETWORK_SECRET, waitFor } from './harness.js';
import { errorCount, handshakeOutcome, rawSocket } from './helpers.js';
import { sharedRedis } from './setup.js';
import type { BridgeNode } from '../bridge/bridge-node.js';

const HOSTILE_ORIGINS = ['null', 'not a url', 'http://game.example:99999', 'http://[::1'];
const ADMIN_TOKEN = 'admin-token-0123456789';
const DASHBOARD_TOKEN = 'dashboard-token-0123456789';

const portOf = (url: string) => Number(new URL(url).port);
async function faults(node: BridgeNode, where: string): Promise<number> {
  return (await node.testHook.metrics.faults.get()).values.filter((v) => v.labels.where === where).reduce((s, v) => s + v.value, 0);
}

describe('the HTTP edge', () => {
  let mesh: Mesh;
  beforeEach(() => { mesh = new Mesh(sharedRedis()); });
  afterEach(() => mesh.close());

  it('refuses Origin null and origins that are not URLs on the upgrade (400 ORIGIN_NOT_ALLOWED, counted); players served on', async () => {
    const node = await mesh.addBridge();
    const s1 = await mesh.addServer(node, 's1');
    const alice = await mesh.addClient(node, 'alice');
    const port = portOf(mesh.url(node));
    for (const origin of HOSTILE_ORIGINS) {
      const r = await rawHttp(port, upgradeRequest({ Origin: origin }));
      expect(r.status, origin).to.equal(400);
      expect(r.body, origin).to.contain('ORIGIN_NOT_ALLOWED');
    }
    expect(await errorCount(node, 'ORIGIN_NOT_ALLOWED')).to.equal(HOSTILE_ORIGINS.length);
    // Positive control: the node's own origin upgrades (the dashboard's page does this).
    expect((await rawHttp(port, upgradeRequest({ Origin: `http://127.0.0.1:${port}` }))).status).to.equal(101);
    alice.send({ dx: 1 });
    await waitFor(() => alice.ack === 1, 5000, 'the node still serves its players');
    expect(s1.applied.get('alice')).to.deep.equal([1]);
  });

  it('lets Origin null in only when corsOrigins lists it', async () => {
    expect(originRefusal('null', 'h:1', new Set(['null']))).to.equal(undefined);
    expect(originRefusal('null', 'h:1', new Set(['https://play.example']))).to.match(/^origin null is not allowed/);
    expect(originRefusal('http://[::1', 'h:1', new Set())).to.match(/is not a URL/);
    expect(originRefusal('http://h:1', 'h:1', new Set())).to.equal(undefined);
    expect(originRefusal(undefined, 'h:1', new Set())).to.equal(undefined);
    const node = await mesh.addBridge({ corsOrigins: 'https://play.example null' });
    expect((await rawHttp(portOf(mesh.url(node)), upgradeRequest({ Origin: 'null' }))).status).to.equal(101);
  });

  it('a fault in allowRequest, a handshake or a route costs one request: logged, counted, answered; players served on', async () => {
    const node = await mesh.addBridge({ adminToken: ADMIN_TOKEN });
    const s1 = await mesh.addServer(node, 's1');
    const alice = await mesh.addClient(node, 'alice');
    const url = mesh.url(node);

    node.testHook.injectFault('allowRequest');
    const upgrade = await rawHttp(portOf(url), upgradeRequest({}));
    expect([upgrade.status, upgrade.body.startsWith('INTERNAL: request ')]).to.deep.equal([400, true]);
    expect(await faults(node, 'allowRequest')).to.equal(1);

    node.testHook.injectFault('handshake');
    const refused = rawSocket(url, SERVER_NAMESPACE, { serverId: 's9', secret: NETWORK_SECRET, power: 1, protocol: PROTOCOL_VERSION });
    expect(await handshakeOutcome(refused)).to.equal('INTERNAL');
    refused.close();
    expect(await faults(node, 'handshake')).to.equal(1);

    node.testHook.injectFault('http');
    const res = await fetch(`${url}/healthz`);
    const body = (await res.json()) as { error: { code: string; requestId: string } };
    expect([res.status, body.error.code]).to.deep.equal([500, 'INTERNAL']);
    expect(body.error.requestId).to.match(/^[0-9a-f-]{36}$/);
    expect(await faults(node, 'http')).to.equal(1);

    // One request each: the next ones are served, and so are the players who were there all along.
    expect((await fetch(`${url}/healthz`)).status).to.equal(200);
    expect((await rawHttp(portOf(url), upgradeRequest({}))).status).to.equal(101);
    alice.send({ dx: 1 });
    await waitFor(() => alice.ack === 1, 5000, 'inputs flow');
    expect(s1.applied.get('alice')).to.deep.equal([1]);
  });

  it('answers a bad percent-encoding 400, not 500', async () => {
    const node = await mesh.addBridge({ adminToken: ADMIN_TOKEN });
    const res = await fetch(`${mesh.url(node)}/v1/admin/players/%E0%A4%A`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(res.status).to.equal(400);
    expect(((await res.json()) as { error: { code: string } }).error.code).to.equal('BAD_INPUT');
    expect(await faults(node, 'http')).to.equal(0);
  });

  it('gives up on uncaught faults only when they keep coming (10 within a minute)', () => {
    const budget = new FaultBudget(10, 60_000);
    for (let i = 0; i < 9; i++) expect(budget.spend(1000 + i)).to.equal(false);
    expect(budget.spend(2000)).to.equal(true);
    const spaced = new FaultBudget(10, 60_000);
    for (let i = 0; i < 30; i++) expect(spaced.spend(i * 7000)).to.equal(false, `fault ${i}, 7 s apart`);
  });
});

describe('ids that could name another id\'s records', () => {
  let mesh: Mesh;
  beforeEach(() => { mesh = new Mesh(sharedRedis()); });
  afterEach(() => mesh.close());

  const serverAuth = (serverId: string, secret = NETWORK_SECRET) => ({ serverId, secret, power: 1, protocol: PROTOCOL_VERSION });

  it('servers: an id ending in another server\'s key suffix is refused, and that server\'s records stay its own', async () => {
    const node = await mesh.addBridge({ serverKeys: { s2: 's2-key-0123456789abcdef' } });
    await mesh.addServer(node, 's2', { secret: 's2-key-0123456789abcdef' });
    const alice = await mesh.addClient(node, 'alice');
    alice.send({ dx: 1 });
    const keys = new Keys('mb', mesh.world);
    const redis = await mesh.connect();
    try {
      await waitFor(async () => (await redis.smembers(keys.serverPlayers('s2'))).length === 1, 5000, 'alice on s2');
      await waitFor(async () => (await redis.hget(keys.serverDelivered('s2'), 'alice')) === '1', 5000, 's2\'s delivered record written');
      const records = () => Promise.all([redis.hgetall(keys.serverDelivered('s2')), redis.smembers(keys.serverPlayers('s2'))]);
      const before = await records();
      for (const id of ['s2:delivered', 's2:players', 's2:x']) {
        const sock = rawSocket(mesh.url(node), SERVER_NAMESPACE, serverAuth(id));
        expect(await handshakeOutcome(sock), id).to.equal('BAD_HANDSHAKE');
        sock.close();
      }
      expect(await records()).to.deep.equal(before);
      expect(await redis.type(keys.serverDelivered('s2'))).to.equal('hash');
      // Positive control: a plain id registers with the same secret.
      const ok = rawSocket(mesh.url(node), SERVER_NAMESPACE, serverAuth('s3'));
      expect(await handshakeOutcome(ok)).to.equal('connected');
      ok.close();
    } finally {
      redis.disconnect();
    }
  });

  it('players: no token, login or mute names an id with ":", so no player posts as a server', async () => {
    const node = await mesh.addBridge({ devLogin: true });
    const s1 = await mesh.addServer(node, 's1');
    const forged = rawSocket(mesh.url(node), '/client', { token: await mesh.token('system:s1') });
    expect(await handshakeOutcome(forged)).to.equal('BAD_TOKEN');
    forged.close();
    const login = await fetch(`${mesh.url(node)}/v1/login`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"player":"system:s1"}',
    });
    expect(login.status).to.equal(400);
    const bob = await mesh.addClient(node, 'bob');
    const heard: string[] = [];
    bob.on('chat', (m) => heard.push(m.from));
    await s1.sdk.postChat('global', 'server news');
    await bob.chat.send('global', 'hi');
    await waitFor(() => heard.length === 2, 5000, 'both posts heard');
    expect(heard).to.deep.equal([`${SYSTEM_SENDER_PREFIX}s1`, 'bob']);
    expect(heard.filter((f) => f.includes(':'))).to.deep.equal(['system:s1'], 'only a server\'s post has a ":"');
    await s1.sdk.mute('bob:x', 10).then(() => expect.fail('muted an id with ":"'), (e: Error & { code: string }) => {
      expect(e.code).to.equal('BAD_INPUT');
    });
  });

  it('rooms and whispers: a name with ":" is no channel', async () => {
    const node = await mesh.addBridge();
    await mesh.addServer(node, 's1');
    const alice = await mesh.addClient(node, 'alice');
    for (const channel of ['room:a:b', 'whisper:bob:x']) {
      const refused = await (channel.startsWith('room') ? alice.chat.join(channel) : alice.chat.send(channel, 'hi')).then(
        () => 'accepted', (e: { code: string }) => e.code,
      );
      expect(refused, channel).to.equal('BAD_CHANNEL');
    }
    expect(await alice.chat.join('room:a').then(() => 'joined')).to.equal('joined', 'positive control: a plain room');
  });

  it('chunks: ids are fields of one index, never keys, so an id shaped like a key suffix stays a chunk', async () => {
    const node = await mesh.addBridge();
    const s1 = await mesh.addServer(node, 's1');
    await s1.sdk.sync.put('a', Buffer.from('one'));
    await s1.sdk.sync.put('a:refs', Buffer.from('two'));
    const index = await node.testHook.chunks.index();
    expect(index.map((m) => m.id).filter((id) => id.startsWith('a')).sort()).to.deep.equal(['a', 'a:refs']);
  });

  it('nodes: a node id with ":" is a configuration error', () => {
    const env = { MESHBRIDGE_NETWORK_SECRET: 'network-secret', MESHBRIDGE_JWT_SECRET: 'jwt-secret-0123456789' };
    expect(() => loadBridgeConfig({ ...env, MESHBRIDGE_NODE_ID: 'n1:players' })).to.throw(ConfigError, /nodeId/);
  });

  it('keys: every key built from an id refuses one with ":" or a brace, whoever forgot to check', () => {
    const keys = new Keys('mb', 'w');
    const byId: ((id: string) => string)[] = [
      (id) => keys.player(id), (id) => keys.server(id), (id) => keys.serverDelivered(id), (id) => keys.serverPlayers(id),
      (id) => keys.areaChannel(id), (id) => keys.areaCooldown(id), (id) => keys.areaMoving(id), (id) => keys.nodePlayers(id),
      (id) => keys.nodeChannel(id), (id) => keys.chatMute(id), (id) => keys.chatRoom(`room:${id}`),
      (id) => keys.chatStream(`whisper:${id}`), (id) => keys.chatChannel(`room:${id}`), (id) => keys.chunkBytes(id),
    ];
    for (const [i, key] of byId.entries()) {
      expect(key('s2'), `key ${i}`).to.be.a('string');
      for (const bad of ['s2:players', 'x}', '{x']) expect(() => key(bad), `key ${i} of "${bad}"`).to.throw(/cannot be part of a key/);
    }
  });

  it('Lua: no script builds a key by joining strings (every key it touches comes from KEYS)', () => {
    const dir = new URL('../bridge/authority/lua/', import.meta.url);
    const includes = readdirSync(new URL('includes/', dir)).map((f) => `includes/${f}`);
    const files = [...readdirSync(dir).filter((f) => f.endsWith('.lua')), ...includes];
    expect(files.length).to.be.greaterThan(10);
    for (const f of files) {
      const code = readFileSync(new URL(f, dir), 'utf8').split('\n').filter((l) => !l.trimStart().startsWith('--')).join('\n');
      expect(code, f).not.to.match(/\.\.\s*'[^']*:|':[^']*'\s*\.\./);
    }
  });
});

describe('operator views', () => {
  let mesh: Mesh;
  beforeEach(() => { mesh = new Mesh(sharedRedis()); });
  afterEach(() => mesh.close());

  const get = (url: string, token?: string) => fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {} });

  it('the dashboard\'s data and chat take the dashboard or admin token; an anonymous poll names no player and opens no area', async () => {
    const node = await mesh.addBridge({ adminToken: ADMIN_TOKEN, dashboardToken: DASHBOARD_TOKEN, worldCols: 3, worldRows: 3 });
    await mesh.addServer(node, 's1');
    const alice = await mesh.addClient(node, 'alice');
    alice.send({ dx: 1 });
    const url = mesh.url(node);
    for (const path of ['/v1/dashboard', '/v1/chat']) {
      for (const token of [undefined, 'wrong-token-0123456789']) {
        const res = await get(`${url}${path}`, token);
        expect(res.status, `${path} ${token}`).to.equal(401);
        expect(((await res.json()) as { error: { code: string } }).error.code).to.equal('BAD_TOKEN');
      }
    }
    expect(node.testHook.interest().subscribed).to.have.length.below(9, 'anonymous polls opened no area channel');
    // /metrics stays open: it counts, it names no one (docs/operations.md).
    const metrics = await (await get(`${url}/metrics`)).text();
    expect(metrics).to.contain('meshbridge_clients');
    expect(metrics).not.to.contain('alice');
    for (const token of [DASHBOARD_TOKEN, ADMIN_TOKEN]) expect((await get(`${url}/v1/chat`, token)).status).to.equal(200);
    await waitFor(async () => JSON.stringify(await (await get(`${url}/v1/dashboard`, DASHBOARD_TOKEN)).json()).includes('"alice"'), 5000,
      'with the token, the dashboard names the player (positive control)');
    expect(node.testHook.interest().subscribed).to.have.length(9, 'an operator\'s dashboard listens to every area');
    // The dashboard's token opens no admin call.
    expect((await get(`${url}/v1/admin/areas`, DASHBOARD_TOKEN)).status).to.equal(401);
  });

  it('count for the whole network: behind a balancer, every node answers the dashboard with the same counters', async () => {
    const [a, b] = [await mesh.addBridge({ dashboardOpen: true }), await mesh.addBridge({ dashboardOpen: true })];
    await mesh.addServer(a, 's1');
    const alice = await mesh.addClient(a, 'alice');
    for (let i = 0; i < 20; i++) alice.send({ dx: 1 });
    await waitFor(() => alice.ack === 20, 5000, 'served through a');
    const inputs = async (n: BridgeNode) => ((await (await get(`${mesh.url(n)}/v1/dashboard`)).json()) as { counters: { inputs: number } })
      .counters.inputs;
    await waitFor(async () => (await inputs(a)) === 20 && (await inputs(b)) === 20, 3000, 'both nodes count the 20 inputs a routed');
  });

  it('are disabled without any token, and open without one only where the operator says so', async () => {
    const closed = await mesh.addBridge();
    const res = await get(`${mesh.url(closed)}/v1/dashboard`);
    expect(res.status).to.equal(404);
    expect(((await res.json()) as { error: { code: string } }).error.code).to.equal('DASHBOARD_DISABLED');
    const open = await mesh.addBridge({ dashboardOpen: true });
    expect((await get(`${mesh.url(open)}/v1/dashboard`)).status).to.equal(200);
    expect((await get(`${mesh.url(open)}/v1/chat`)).status).to.equal(200);
  });
});

describe('hot-path guards agree with the schemas', () => {
  it('a state batch: ids with ":", negative acks and unknown keys fail both; a good batch passes both', () => {
    const good = [{ kind: 'area', area: '0,0', epoch: 1, data: {}, acks: { alice: 0 } }];
    const bad = [
      [{ kind: 'area', area: '0,0', epoch: 1, data: {}, acks: { alice: -1 } }],
      [{ kind: 'area', area: 's2:x', epoch: 1, data: {} }],
      [{ kind: 'player', player: 'a:b', epoch: 1, data: {} }],
      [{ kind: 'area', area: '0,0', epoch: 1, data: {}, acks: { 'a:b': 1 } }],
      [{ kind: 'all', data: {}, extra: 1 }],
    ];
    expect([isStateBatch(good), StateBatchSchema.safeParse(good).success]).to.deep.equal([true, true]);
    for (const b of bad) expect([isStateBatch(b), StateBatchSchema.safeParse(b).success], JSON.stringify(b)).to.deep.equal([false, false]);
  });
});
