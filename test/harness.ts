// Test harness: a real redis-server on a free port, and a Mesh of bridge nodes, reference game
// servers and SDK clients on 127.0.0.1 that tears itself down, so each test reads as its scenario.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Cluster, Redis } from 'ioredis';
import winston from 'winston';
import { BridgeNode } from '../bridge/bridge-node.js';
import { TokenVerifier } from '../bridge/relay/auth.js';
import { MeshClient, type MeshClientOptions } from '../client-sdk/index.js';
import { ReferenceServer, type ReferenceServerOptions } from '../gameserver-stub/reference-server.js';
import { parseBridgeConfig, type BridgeConfigInput } from '../shared/config.js';

import { freePort, waitFor, type RedisServer } from '../scripts/redis-process.js';

export { LocalRedisCluster, RedisServer, freePort, sleep, waitFor } from '../scripts/redis-process.js';

export const JWT_SECRET = 'test-jwt-secret-0123456789';
export const NETWORK_SECRET = 'test-network-secret';

/** Several bridge nodes, game servers and clients sharing one world on one Redis. */
export class Mesh {
  readonly world = `w${randomBytes(4).toString('hex')}`;
  readonly bridges: BridgeNode[] = [];
  readonly servers: ReferenceServer[] = [];
  readonly clients: MeshClient[] = [];
  readonly children: ChildProcess[] = [];
  private readonly tokens = new TokenVerifier({ jwtSecret: JWT_SECRET });
  private readonly urls = new Map<BridgeNode, string>();

  /** The Redis Cluster this mesh runs on instead of `redis` (set by test/setup.ts for `npm run test:cluster`). */
  readonly clusterNodes = process.env.MESH_REDIS_CLUSTER?.split(',') ?? [];

  constructor(readonly redis: RedisServer) {}

  /** A connection to the Redis this mesh runs on, ready (the caller disconnects it). */
  async connect(): Promise<Redis | Cluster> {
    const conn = this.clusterNodes.length === 0
      ? new Redis(this.redis.url)
      : new Cluster(this.clusterNodes.map((u) => ({ host: new URL(u).hostname, port: Number(new URL(u).port) })));
    if (conn.status !== 'ready') await new Promise((resolve) => conn.once('ready', resolve));
    return conn;
  }

  async addBridge(overrides: Partial<BridgeConfigInput> = {}): Promise<BridgeNode> {
    const config = parseBridgeConfig({
      nodeId: `n${this.bridges.length + 1}-${this.world}`, host: '127.0.0.1', port: 0, redisUrl: this.redis.url, world: this.world,
      networkSecret: NETWORK_SECRET, jwtSecret: JWT_SECRET, logLevel: 'error', sessionGraceMs: 2000, nodeHeartbeatMs: 200,
      inputsPerSecond: 100_000, inputBurst: 100_000, redisClusterNodes: this.clusterNodes, ...overrides,
    });
    // MESH_TEST_LOG=debug shows the nodes' logs while a test runs.
    const node = process.env.MESH_TEST_LOG
      ? new BridgeNode({ ...config, logLevel: process.env.MESH_TEST_LOG as 'debug' })
      : new BridgeNode(config, winston.createLogger({ silent: true }));
    const port = await node.start();
    this.bridges.push(node);
    this.urls.set(node, `http://127.0.0.1:${port}`);
    return node;
  }

  url(node: BridgeNode): string {
    return this.urls.get(node)!;
  }

  async addServer(node: BridgeNode, id: string, opts: Partial<ReferenceServerOptions> = {}): Promise<ReferenceServer> {
    const server = new ReferenceServer({
      url: this.url(node),
      serverId: id,
      secret: NETWORK_SECRET,
      power: 1,
      tickHz: 20,
      recordInputs: true,
      ...opts,
    });
    await server.start();
    this.servers.push(server);
    return server;
  }

  /** The reference server as its own process (`npm run stub`), for kill -9 and SIGTERM scenarios. */
  async spawnServer(node: BridgeNode, id: string, args: string[] = []): Promise<ChildProcess> {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'gameserver-stub/main.ts', '--id', id, '--url', this.url(node), '--tick', '20', ...args],
      {
        env: { ...process.env, MESHBRIDGE_NETWORK_SECRET: NETWORK_SECRET },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    this.children.push(child);
    let out = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${id} did not register: ${out}`)), 15_000);
      const onData = (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes('registered')) { clearTimeout(timer); resolve(); }
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`${id} exited (${code}): ${out}`)); });
    });
    return child;
  }

  /**
   * A bridge node as its own process (bridge/main.ts) in this mesh's world, for faults only a process
   * has (SIGSTOP): `env` sets its configuration. Resolves once it answers /readyz.
   */
  async spawnBridge(name: string, env: Record<string, string> = {}): Promise<{ child: ChildProcess; url: string }> {
    const port = await freePort();
    const child = spawn(process.execPath, ['--import', 'tsx', 'bridge/main.ts'], {
      env: {
        ...process.env, MESHBRIDGE_NODE_ID: `${name}-process-${this.world}`, MESHBRIDGE_HOST: '127.0.0.1', MESHBRIDGE_PORT: String(port),
        MESHBRIDGE_REDIS_URL: this.redis.url, MESHBRIDGE_WORLD: this.world, MESHBRIDGE_NETWORK_SECRET: NETWORK_SECRET,
        MESHBRIDGE_JWT_SECRET: JWT_SECRET, MESHBRIDGE_LOG_LEVEL: 'error', MESHBRIDGE_SESSION_GRACE_MS: '2000',
        MESHBRIDGE_INPUTS_PER_SECOND: '100000', MESHBRIDGE_INPUT_BURST: '100000',
        ...(this.clusterNodes.length > 0 ? { MESHBRIDGE_REDIS_CLUSTER_NODES: this.clusterNodes.join(',') } : {}),
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.children.push(child);
    const url = `http://127.0.0.1:${port}`;
    await waitFor(() => child.exitCode === null && fetch(`${url}/readyz`).then((r) => r.ok, () => false), 30_000, `${name} ready`);
    return { child, url };
  }

  token(player: string): Promise<string> {
    return this.tokens.issue(player);
  }

  /** A connected client; `via` is one node or a failover list. */
  async addClient(via: BridgeNode | BridgeNode[], player: string, opts: Partial<MeshClientOptions> = {}): Promise<MeshClient> {
    const nodes = Array.isArray(via) ? via : [via];
    const client = new MeshClient({ urls: nodes.map((n) => this.url(n)), token: await this.token(player), resendAfterMs: 300, ...opts });
    this.clients.push(client);
    await client.connect();
    return client;
  }

  /** Closes everything this mesh started; the shared Redis stays up. */
  async close(): Promise<void> {
    for (const c of this.clients) c.close();
    for (const s of this.servers) s.stop();
    for (const child of this.children) if (child.exitCode === null) child.kill('SIGKILL');
    await Promise.all(this.bridges.map((b) => b.close().catch(() => {})));
  }
}
