// Bugs found by running the mesh as new users would (issue 13): orphaned areas, draining the only
// server, drained processes that never exit.
import { expect } from 'chai';
import { io } from 'socket.io-client';
import type { BridgeNode } from '../bridge/bridge-node.js';
import { CLIENT_NAMESPACE } from '../shared/protocol.js';
import { Mesh, sleep, waitFor } from './harness.js';
import { sharedRedis } from './setup.js';

const ADMIN = 'test-admin-token-0123456789';

describe('field fixes', () => {
  let mesh: Mesh;
  beforeEach(() => { mesh = new Mesh(sharedRedis()); });
  afterEach(() => mesh.close());

  const admin = (node: BridgeNode, method: string, path: string, body?: object) =>
    fetch(`${mesh.url(node)}/v1/admin/${path}`, {
      method,
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });

  it('an area held by a dead server, with no one to take it, is recovered once a server appears', async function () {
    this.timeout(20_000);
    const node = await mesh.addBridge({ serverLeaseMs: 1000, leaseCheckMs: 200 });
    const s1 = await mesh.addServer(node, 's1');
    const alice = await mesh.addClient(node, 'alice');
    s1.stop();
    await waitFor(() => node.testHook.cache.servers.get('s1')?.status === 'dead', 5000, 's1 declared dead');
    await sleep(1000);
    expect(node.testHook.cache.areas.get('0,0')?.server).to.equal('s1', 'nobody could take it yet');
    const s2 = await mesh.addServer(node, 's2');
    await waitFor(() => node.testHook.cache.areas.get('0,0')?.server === 's2', 5000, 'recovered to the server that appeared');
    alice.send({ dx: 1 });
    await waitFor(() => alice.ack === 1, 3000, 'served by s2');
    expect(s2.applied.get('alice')).to.deep.equal([1]);
  });

  it('the admin API assigns an orphaned area, restored from its last autosave', async function () {
    this.timeout(20_000);
    const node = await mesh.addBridge({ adminToken: ADMIN, leaseCheckMs: 60_000 });
    const s1 = await mesh.addServer(node, 's1', { snapshotMs: 100 });
    const alice = await mesh.addClient(node, 'alice');
    alice.send({ dx: 1 });
    await waitFor(
      async () => (await node.testHook.map.loadPlayers(['alice'])).get('alice')?.snapSeq === 1,
      3000,
      'an autosave with the input',
    );
    const saved = (await node.testHook.map.loadPlayers(['alice'])).get('alice')!.snapshot;
    const s2 = await mesh.addServer(node, 's2');
    const epoch = s1.sdk.epoch;
    s1.stop();
    expect(await node.testHook.map.setServerStatus('s1', epoch, 'dead')).to.equal(true);
    const res = await admin(node, 'POST', 'areas/0,0/move', { server: 's2' });
    expect(res.status, await res.clone().text()).to.equal(200);
    await waitFor(() => s2.sdk.players.has('alice'), 3000, 'alice attached to s2');
    expect(s2.positions.get('alice')).to.deep.equal(saved);
    alice.send({ dx: 1 });
    await waitFor(() => alice.ack === 2, 3000, 'served by s2');
  });

  it('draining the only server is refused up front; a drain under way can be cancelled', async function () {
    this.timeout(20_000);
    const node = await mesh.addBridge({ adminToken: ADMIN, worldCols: 2, worldRows: 1 });
    const s1 = await mesh.addServer(node, 's1');
    await node.testHook.assignArea('0,0', 's1');
    await node.testHook.assignArea('1,0', 's1');
    const refused = await admin(node, 'POST', 'servers/s1/drain');
    expect(refused.status).to.equal(409);
    expect(((await refused.json()) as { error: { code: string } }).error.code).to.equal('NO_SERVER');
    const err = await s1.sdk.drain(2000).then(() => undefined, (e: Error & { code?: string }) => e);
    expect(err?.code).to.equal('NO_SERVER');
    expect(node.testHook.cache.servers.get('s1')?.status).to.equal('ready');
    const s2 = await mesh.addServer(node, 's2');
    s2.sdk.hooks.acceptArea = () => { const until = Date.now() + 400; while (Date.now() < until); return true; };
    expect((await admin(node, 'POST', 'servers/s1/drain')).status).to.equal(202);
    await waitFor(() => node.testHook.cache.servers.get('s1')?.status === 'draining', 2000, 'draining');
    const cancelled = await admin(node, 'DELETE', 'servers/s1/drain');
    expect(cancelled.status).to.equal(200);
    await sleep(1500);
    expect(node.testHook.cache.servers.get('s1')?.status).to.equal('ready');
    expect(node.testHook.cache.areasOf('s1').length, 'the area not moved yet stays').to.equal(1);
    expect(node.testHook.cache.areasOf('s2').length).to.equal(1);
  });

  it('placement counts the players a server got since its last load report', async () => {
    const node = await mesh.addBridge({ worldCols: 4, worldRows: 1, spawnAreas: '0,0' });
    await mesh.addServer(node, 's1', { loadIntervalMs: 60_000 }); // its reports lag behind the joins
    const players = await Promise.all(Array.from({ length: 10 }, (_, i) => mesh.addClient(node, `p${i}`)));
    expect(new Set(players.map((p) => p.session!.server))).to.deep.equal(new Set(['s1']));
    await mesh.addServer(node, 's2', { loadIntervalMs: 60_000 });
    await node.testHook.assignArea('1,0', 's2');
    await node.testHook.assignArea('2,0', 's2'); // s2 holds more areas, but no player
    const r = await node.testHook.handoff('p0', '3,0');
    expect(r).to.include({ ok: true, server: 's2' });
  });

  it('a reference server process drained by the admin API exits 0', async function () {
    this.timeout(30_000);
    const node = await mesh.addBridge({ adminToken: ADMIN });
    const child = await mesh.spawnServer(node, 's1');
    await mesh.addServer(node, 's2');
    await mesh.addClient(node, 'alice');
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    expect((await admin(node, 'POST', 'servers/s1/drain')).status).to.equal(202);
    expect(await exited).to.equal(0);
  });
});

describe('cross-origin access (corsOrigins)', () => {
  let mesh: Mesh;
  beforeEach(() => { mesh = new Mesh(sharedRedis()); });
  afterEach(() => mesh.close());

  it('lets allowed origins log in, read the listing and connect; refuses other browser origins', async () => {
    const node = await mesh.addBridge({ devLogin: true, corsOrigins: 'https://play.example.com' });
    await mesh.addServer(node, 's1');
    const url = mesh.url(node);
    const preflight = await fetch(`${url}/v1/login`, {
      method: 'OPTIONS',
      headers: {
        origin: 'https://play.example.com',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type',
      },
    });
    expect(preflight.status).to.equal(204);
    expect(preflight.headers.get('access-control-allow-origin')).to.equal('https://play.example.com');
    const login = await fetch(`${url}/v1/login`, {
      method: 'POST', headers: { origin: 'https://play.example.com', 'content-type': 'application/json' }, body: '{"player":"web"}',
    });
    expect(login.headers.get('access-control-allow-origin')).to.equal('https://play.example.com');
    const { token } = (await login.json()) as { token: string };
    const other = await fetch(`${url}/v1/network`, { headers: { origin: 'https://evil.example.com' } });
    expect(other.headers.get('access-control-allow-origin'), 'no grant for another origin').to.equal(null);
    const connect = (origin: string) => new Promise<string>((resolve) => {
      const s = io(`${url}${CLIENT_NAMESPACE}`, {
        transports: ['websocket'],
        forceNew: true,
        reconnection: false,
        auth: { token },
        extraHeaders: { origin },
      });
      s.once('session', () => { s.close(); resolve('connected'); });
      s.once('connect_error', () => { s.close(); resolve('refused'); });
    });
    expect(await connect('https://play.example.com')).to.equal('connected');
    expect(await connect('https://evil.example.com')).to.equal('refused');
    expect(await connect(url)).to.equal('connected', 'the node\'s own origin (the dashboard)');
  });
});
