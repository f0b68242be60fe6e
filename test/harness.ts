// Test harness: a real redis-server on a free port, and a Mesh of bridge nodes, reference game
// servers and SDK clients on 127.0.0.1 that tears itself down, so each test reads as its scenario.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import winston from 'winston';
import { BridgeNode } from '../bridge/bridge-node.js';
import { TokenVerifier } from '../bridge/auth.js';
import { MeshClient, type MeshClientOptions } from '../client-sdk/index.js';
import { ReferenceServer, type ReferenceServerOptions } from '../gameserver-stub/reference-server.js';
import { parseBridgeConfig, type BridgeConfigInput } from '../shared/config.js';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * A redis-server child process that tests may kill and restart on the same port. With a data
 * directory it runs with an fsync-always append-only file, as production Redis should.
 */
export class RedisServer {
  private proc: ChildProcess | undefined;
  constructor(readonly port: number, private readonly dataDir?: string) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  static async start(opts: { persistent?: boolean } = {}): Promise<RedisServer> {
    const r = new RedisServer(await freePort(), opts.persistent ? mkdtempSync(join(tmpdir(), 'meshbridge-redis-')) : undefined);
    await r.start();
    return r;
  }

  async start(): Promise<void> {
    const persistence = this.dataDir ? ['--dir', this.dataDir, '--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no'];
    const proc = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', ...persistence], { stdio: 'ignore' });
    this.proc = proc;
    process.once('exit', () => proc.kill('SIGKILL')); // never outlive the test run
    const probe = new Redis(this.url, { lazyConnect: true, retryStrategy: () => 50, maxRetriesPerRequest: null });
    probe.on('error', () => {});
    await probe.connect().catch(() => {});
    await waitFor(async () => (await probe.ping().catch(() => '')) === 'PONG', 5000, 'redis-server to answer');
    probe.disconnect();
  }

  async stop(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      p.once('exit', () => resolve());
      p.kill('SIGKILL');
    });
  }
}

const JWT_SECRET = 'test-jwt-secret-0123456789';
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

  constructor(readonly redis: RedisServer) {}

  async addBridge(overrides: Partial<BridgeConfigInput> = {}): Promise<BridgeNode> {
    const config = parseBridgeConfig({
      nodeId: `n${this.bridges.length + 1}-${this.world}`, host: '127.0.0.1', port: 0, redisUrl: this.redis.url, world: this.world,
      networkSecret: NETWORK_SECRET, jwtSecret: JWT_SECRET, logLevel: 'error', sessionGraceMs: 2000, nodeHeartbeatMs: 200,
      inputsPerSecond: 100_000, inputBurst: 100_000, ...overrides,
    });
    // MESH_TEST_LOG=debug shows the nodes' logs while a test runs.
    const node = process.env.MESH_TEST_LOG ? new BridgeNode({ ...config, logLevel: process.env.MESH_TEST_LOG as 'debug' }) : new BridgeNode(config, winston.createLogger({ silent: true }));
    const port = await node.start();
    this.bridges.push(node);
    this.urls.set(node, `http://127.0.0.1:${port}`);
    return node;
  }

  url(node: BridgeNode): string {
    return this.urls.get(node)!;
  }

  async addServer(node: BridgeNode, id: string, opts: Partial<ReferenceServerOptions> = {}): Promise<ReferenceServer> {
    const server = new ReferenceServer({ url: this.url(node), serverId: id, secret: NETWORK_SECRET, power: 1, tickHz: 20, recordInputs: true, ...opts });
    await server.start();
    this.servers.push(server);
    return server;
  }

  /** The reference server as its own process (`npm run stub`), for kill -9 and SIGTERM scenarios. */
  async spawnServer(node: BridgeNode, id: string, args: string[] = []): Promise<ChildProcess> {
    const child = spawn(process.execPath, ['--import', 'tsx', 'gameserver-stub/main.ts', '--id', id, '--url', this.url(node), '--tick', '20', ...args], {
      env: { ...process.env, MESHBRIDGE_NETWORK_SECRET: NETWORK_SECRET }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.children.push(child);
    let out = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${id} did not register: ${out}`)), 15_000);
      const onData = (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes('registered')) { clearTimeout(timer); resolve(); }
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`${id} exited (${code}): ${out}`)); });
    });
    return child;
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
