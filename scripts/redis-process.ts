// A redis-server child process on a free loopback port, for tests and benchmarks: started
// and stopped (kill -9) at will, optionally with an fsync-always append-only file.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

/**
 * A free loopback port below the kernel's ephemeral range. A port from that range (what listen(0)
 * hands out) can also be picked as the source port of an outgoing connection: a client retrying
 * towards it while nothing listens may connect to itself (TCP self-connect), after which the
 * server cannot bind and the client talks to itself. Tests stop and restart servers on fixed
 * ports while clients retry, so they keep out of that range.
 */
export async function freePort(): Promise<number> {
  const [ephemeralMin] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
  const top = Math.min((ephemeralMin ?? 32768) - 1, 32767);
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = 10000 + Math.floor(Math.random() * (top - 10000));
    if (await canListen(port)) return port;
  }
  throw new Error('no free port found below the ephemeral range');
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
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
  /** `detached`: in its own process group, so a terminal's Ctrl-C reaches only the script that stops it in order. */
  constructor(
    readonly port: number,
    private readonly dataDir?: string,
    private readonly extraArgs: string[] = [],
    private readonly detached = false,
  ) {
    process.once('exit', () => this.proc?.kill('SIGKILL')); // never outlive the test run
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  static async start(opts: { persistent?: boolean } = {}): Promise<RedisServer> {
    const r = new RedisServer(await freePort(), opts.persistent ? mkdtempSync(join(tmpdir(), 'meshbridge-redis-')) : undefined);
    await r.start();
    return r;
  }

  /** `fromSnapshot`: load the data directory's dump.rdb (Redis ignores it while the append-only file is on), then turn that on. */
  async start(fromSnapshot = false): Promise<void> {
    const appendOnly = this.dataDir && !fromSnapshot ? 'yes' : 'no';
    const persistence = this.dataDir
      ? ['--dir', this.dataDir, '--appendonly', appendOnly, '--appendfsync', 'always']
      : ['--appendonly', 'no'];
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', ...persistence, ...this.extraArgs];
    const proc = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'], detached: this.detached });
    this.proc = proc;
    // Its last words, for the error when it does not come up (a port taken, a bad option).
    let said = '';
    for (const out of [proc.stdout, proc.stderr]) out.on('data', (d: Buffer) => { said = (said + d.toString()).slice(-1000); });
    const probe = new Redis(this.url, { lazyConnect: true, retryStrategy: () => 50, maxRetriesPerRequest: null });
    probe.on('error', () => {});
    try {
      // Never wait unbounded: connect() can stay pending while redis-server is not listening yet.
      await Promise.race([probe.connect().catch(() => {}), sleep(5000)]);
      await waitFor(async () => {
        if (proc.exitCode !== null) throw new Error(`redis-server on port ${this.port} exited (${proc.exitCode}): ${said}`);
        return (await Promise.race([probe.ping().catch(() => ''), sleep(500).then(() => '')])) === 'PONG';
      }, 5000, 'redis-server to answer');
    } catch (err) {
      throw new Error(`${(err as Error).message}; redis-server said: ${said.trim().split('\n').slice(-3).join(' | ')}`, { cause: err });
      if (fromSnapshot && this.dataDir) await probe.config('SET', 'appendonly', 'yes');
    } finally {
      probe.disconnect();
    }
  }

  /**
   * A copy of the data as it stands now (SAVE: an RDB snapshot), to come back from later with
   * `restart(copy)`, as an operator restoring a backup or a replica that had not caught up would.
   */
  async snapshot(): Promise<string> {
    if (!this.dataDir) throw new Error('snapshot: this redis-server keeps no data');
    const conn = new Redis(this.url);
    try {
      await conn.save();
    } finally {
      conn.disconnect();
    }
    const copy = join(mkdtempSync(join(tmpdir(), 'meshbridge-snapshot-')), 'dump.rdb');
    copyFileSync(join(this.dataDir, 'dump.rdb'), copy);
    return copy;
  }

  /**
   * Stops it (kill -9) and starts it again on the same port with only the snapshot `from` (its
   * append-only file is dropped), or with no data at all (no snapshot: a restart without persistence).
   */
  async restart(from?: string): Promise<void> {
    await this.stop('SIGKILL');
    if (this.dataDir) {
      rmSync(this.dataDir, { recursive: true, force: true });
      mkdirSync(this.dataDir, { recursive: true });
      if (from !== undefined) copyFileSync(from, join(this.dataDir, 'dump.rdb'));
    }
    await this.start(from !== undefined);
  }

  /** kill -9 by default; SIGTERM lets Redis shut down as an operator's restart would. */
  async stop(signal: 'SIGKILL' | 'SIGTERM' = 'SIGKILL'): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      p.once('exit', () => resolve());
      p.kill(signal);
    });
  }
}

/**
 * A local Redis Cluster of `masters` redis-server processes (no replicas) on free loopback ports,
 * created with `redis-cli --cluster create`, for the cluster tests and the bench.
 */
export class LocalRedisCluster {
  private constructor(
    readonly servers: RedisServer[],
    private readonly dir: string,
  ) {}

  /** The masters' URLs (what `redisClusterNodes` takes). */
  get urls(): string[] {
    return this.servers.map((s) => s.url);
  }

  static async start(masters = 3, opts: { detached?: boolean } = {}): Promise<LocalRedisCluster> {
    const dir = mkdtempSync(join(tmpdir(), 'meshbridge-cluster-'));
    const servers: RedisServer[] = [];
    for (let i = 0; i < masters; i++) {
      // The cluster bus port is its own free port: by default it is port + 10000, which nobody checked
      // was free (and may fall in the ephemeral range, see freePort).
      const s = new RedisServer(await freePort(), undefined, [
        '--cluster-enabled', 'yes', '--cluster-port', String(await freePort()), '--cluster-config-file', join(dir, `nodes-${i}.conf`),
        '--dir', dir,
      ], opts.detached);
      await s.start();
      servers.push(s);
    }
    const cluster = new LocalRedisCluster(servers, dir);
    const create = spawnSync('redis-cli', [
      '--cluster', 'create', ...servers.map((s) => `127.0.0.1:${s.port}`), '--cluster-replicas', '0', '--cluster-yes',
    ], { encoding: 'utf8', timeout: 20_000 });
    if (create.status !== 0) {
      await cluster.stop();
      throw new Error(`redis-cli --cluster create failed: ${create.stderr || create.stdout}`);
    }
    // Every master must see every slot assigned before a client's first slot lookup.
    for (const s of servers) {
      const probe = new Redis(s.url);
      await waitFor(async () => (await probe.cluster('INFO')).includes('cluster_state:ok'), 10_000, 'cluster_state:ok');
      probe.disconnect();
    }
    return cluster;
  }

  async stop(): Promise<void> {
    await Promise.all(this.servers.map((s) => s.stop()));
    rmSync(this.dir, { recursive: true, force: true });
  }
}
