import { expect } from 'chai';
import { ConfigError, envName, heartbeat, loadBridgeConfig } from '../shared/config.js';
import { Mesh, RedisServer, waitFor } from './harness.js';
import { sharedRedis } from './setup.js';

describe('configuration', () => {
  it('maps settings to MESHBRIDGE_* variables and applies defaults', () => {
    const c = loadBridgeConfig({
      MESHBRIDGE_NETWORK_SECRET: 'network-secret',
      MESHBRIDGE_JWT_SECRET: 'jwt-secret-0123456789',
      MESHBRIDGE_PORT: '9000',
      MESHBRIDGE_DEV_LOGIN: 'true',
    });
    expect(c).to.include({ port: 9000, devLogin: true, prefix: 'mb', world: 'world', worldCols: 4 });
    expect(envName('nodeId')).to.equal('MESHBRIDGE_NODE_ID');
  });

  it('reports every bad setting on its own line, naming its variable', () => {
    let err: unknown;
    try {
      loadBridgeConfig({
        MESHBRIDGE_PORT: 'eighty',
        MESHBRIDGE_NETWORK_SECRET: 'short',
        MESHBRIDGE_REDIS_URL: 'http://127.0.0.1:6379',
        MESHBRIDGE_DEV_LOGIN: 'yes',
        MESHBRIDGE_POWER_FORMULA: 'ram * (',
        MESHBRIDGE_SPAWN_AREAS: '0,0 9,9',
        MESHBRIDGE_JWT_SECRET: 'jwt-secret-0123456789',
      });
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(ConfigError);
    const problems = (err as ConfigError).problems;
    expect(problems.some((p) => p.startsWith('port (MESHBRIDGE_PORT)'))).to.equal(true);
    expect(problems.some((p) => p.startsWith('networkSecret (MESHBRIDGE_NETWORK_SECRET)'))).to.equal(true);
    expect(problems.some((p) => p.startsWith('redisUrl (MESHBRIDGE_REDIS_URL): must start with redis://'))).to.equal(true);
    expect(problems).to.include('devLogin (MESHBRIDGE_DEV_LOGIN): "yes" is not one of true, false, 1, 0');
    expect(problems.some((p) => p.startsWith('powerFormula (MESHBRIDGE_POWER_FORMULA)'))).to.equal(true, 'names the formula');
    expect(problems.some((p) => p.startsWith('loadFormula'))).to.equal(false);
    expect((err as Error).message.split('\n').length).to.equal(problems.length + 1);
  });

  it('reports spawn areas outside the grid, and warns of variables that are no setting', () => {
    const base = { MESHBRIDGE_NETWORK_SECRET: 'network-secret', MESHBRIDGE_JWT_SECRET: 'jwt-secret-0123456789' };
    const err = (() => {
      try {
        loadBridgeConfig({ ...base, MESHBRIDGE_SPAWN_AREAS: '0,0 9,9' });
      } catch (e) {
        return e as ConfigError;
      }
    })();
    expect(err?.problems).to.deep.equal(['spawnAreas (MESHBRIDGE_SPAWN_AREAS): 9,9 outside the 4×4 grid']);
    const warnings: string[] = [];
    loadBridgeConfig({ ...base, MESHBRIDGE_REDIS_UR: 'x', MESHBRIDGE_CONFIG: '' }, {}, (w) => warnings.push(w));
    expect(warnings).to.deep.equal(['MESHBRIDGE_REDIS_UR is not a setting; did you mean MESHBRIDGE_REDIS_URL?']);
  });

  it('derives the heartbeat from the lease, and refuses one a frozen node would outlast', () => {
    const base = { MESHBRIDGE_NETWORK_SECRET: 'network-secret', MESHBRIDGE_JWT_SECRET: 'jwt-secret-0123456789' };
    expect(heartbeat(loadBridgeConfig(base))).to.deep.equal({ pingInterval: 1000, pingTimeout: 2000 });
    const withEnv = (env: Record<string, string>) => heartbeat(loadBridgeConfig({ ...base, ...env }));
    expect(withEnv({ MESHBRIDGE_SERVER_LEASE_MS: '2000' })).to.deep.equal({ pingInterval: 400, pingTimeout: 1000 });
    expect(withEnv({ MESHBRIDGE_PING_INTERVAL_MS: '500' })).to.deep.equal({ pingInterval: 500, pingTimeout: 2000 });
    const err = (() => {
      try {
        loadBridgeConfig({ ...base, MESHBRIDGE_PING_INTERVAL_MS: '25000', MESHBRIDGE_PING_TIMEOUT_MS: '20000' });
      } catch (e) {
        return e as ConfigError;
      }
    })();
    expect(err?.problems).to.have.length(1);
    expect(err?.problems[0]).to.match(/^pingIntervalMs \+ pingTimeoutMs \(25000 \+ 20000 ms\) must be below serverLeaseMs \(5000 ms\)/);
  });
});

describe('http api', () => {
  let mesh: Mesh;
  beforeEach(() => { mesh = new Mesh(sharedRedis()); });
  afterEach(() => mesh.close());

  it('serves health, readiness, metrics and the network listing', async () => {
    const node = await mesh.addBridge();
    await mesh.addServer(node, 's1');
    await mesh.addClient(node, 'alice');
    const url = mesh.url(node);
    expect(await (await fetch(`${url}/healthz`)).json()).to.deep.equal({ ok: true, node: node.id });
    expect((await fetch(`${url}/readyz`)).status).to.equal(200);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).to.match(/meshbridge_clients\{node="[^"]+"\} 1/);
    const listing = (await (await fetch(`${url}/v1/network`)).json()) as { servers: { id: string; areas: string[] }[]; players: number };
    expect(listing.servers.map((s) => [s.id, s.areas])).to.deep.equal([['s1', ['0,0']]]);
    expect(listing.players).to.equal(1);
  });

  it('reports not ready while Redis is down, and serves again once it is back', async function () {
    this.timeout(20_000);
    const redis = await RedisServer.start({ persistent: true });
    const own = new Mesh(redis);
    try {
      const node = await own.addBridge();
      const s1 = await own.addServer(node, 's1');
      const alice = await own.addClient(node, 'alice');
      const url = own.url(node);
      await redis.stop();
      await waitFor(async () => (await fetch(`${url}/readyz`)).status === 503, 5000, 'not ready');
      const res = await fetch(`${url}/readyz`);
      expect(((await res.json()) as { error: { code: string } }).error.code).to.equal('NOT_READY');
      expect((await fetch(`${url}/healthz`)).status).to.equal(200, 'alive while Redis is down');
      await redis.start();
      await waitFor(async () => (await fetch(`${url}/readyz`)).status === 200, 10_000, 'ready again');
      const rec = (await node.testHook.map.loadPlayers(['alice'])).get('alice');
      expect(rec).to.include({ server: 's1', area: '0,0' }, 'the authority map survived the restart');
      expect((await node.testHook.map.loadAreas()).get('0,0')?.server).to.equal('s1');
      alice.send({ dx: 1 });
      await waitFor(() => alice.ack === 1, 5000, 'inputs flow after the restart');
      expect(s1.applied.get('alice')).to.deep.equal([1]);
    } finally {
      await own.close();
      await redis.stop();
    }
  });

  it('issues dev tokens only when enabled, and says why not', async () => {
    const off = await mesh.addBridge();
    const res = await fetch(`${mesh.url(off)}/v1/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"player":"alice"}',
    });
    expect(res.status).to.equal(404);
    expect(((await res.json()) as { error: { code: string } }).error.code).to.equal('DEV_LOGIN_DISABLED');
    const on = await mesh.addBridge({ devLogin: true });
    const bad = await fetch(`${mesh.url(on)}/v1/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"player":"no spaces"}',
    });
    expect(bad.status).to.equal(400);
    const broken = await fetch(`${mesh.url(on)}/v1/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"player":',
    });
    expect(broken.status).to.equal(400);
    const ok = (await (
      await fetch(`${mesh.url(on)}/v1/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"player":"alice"}',
      })
    ).json()) as { token: string };
    expect(ok.token.split('.')).to.have.length(3);
  });

  it('guards the admin API with its bearer token', async () => {
    const node = await mesh.addBridge({ adminToken: 'admin-token-0123456789' });
    await mesh.addServer(node, 's1');
    const url = mesh.url(node);
    expect((await fetch(`${url}/v1/admin/servers`)).status).to.equal(401);
    const res = await fetch(`${url}/v1/admin/servers`, { headers: { authorization: 'Bearer admin-token-0123456789' } });
    expect(((await res.json()) as { id: string }[]).map((s) => s.id)).to.deep.equal(['s1']);
    const move = await fetch(`${url}/v1/admin/players/ghost/move`, {
      method: 'POST',
      headers: { authorization: 'Bearer admin-token-0123456789', 'content-type': 'application/json' },
      body: '{"area":"0,0"}',
    });
    expect(move.status).to.equal(409);
  });

  it('moves an area, hands off a player and drains a server through the admin API', async () => {
    const node = await mesh.addBridge({ adminToken: 'admin-token-0123456789' });
    const s1 = await mesh.addServer(node, 's1');
    const s2 = await mesh.addServer(node, 's2');
    const alice = await mesh.addClient(node, 'alice');
    const post = (path: string, body?: object) =>
      fetch(`${mesh.url(node)}/v1/admin${path}`, {
        method: 'POST',
        headers: { authorization: 'Bearer admin-token-0123456789', 'content-type': 'application/json' },
        body: JSON.stringify(body ?? {}),
      });
    expect(alice.session?.server).to.equal('s1');
    expect((await post('/areas/0,0/move', { server: 's2' })).status).to.equal(200);
    await waitFor(() => s2.sdk.players.has('alice') && !s1.sdk.players.has('alice'), 3000, 'alice moved with her area');
    const handoff = (await (await post('/players/alice/move', { area: '1,0' })).json()) as { ok: boolean; server: string };
    expect(handoff).to.include({ ok: true, area: '1,0' });
    expect((await post('/servers/nobody/drain')).status).to.equal(404);
    const owner = handoff.server === 's1' ? s1 : s2;
    const other = owner === s1 ? s2 : s1;
    const drained = new Promise<void>((resolve) => owner.sdk.once('drained', () => resolve()));
    expect((await post(`/servers/${owner.id}/drain`)).status).to.equal(202);
    await drained;
    await waitFor(() => other.sdk.players.has('alice'), 3000, 'alice on the remaining server');
    alice.send({ dx: 1 });
    await waitFor(() => alice.ack === 1, 3000, 'still served');
  });
});
