// A mesh of separate processes for the chaos and fuzz suites: Redis, bridge nodes and reference
// servers, each one killable (-9 or SIGTERM) and restartable on the same port / id.
import { spawn, type ChildProcess } from 'node:child_process';
import { TokenVerifier } from '../bridge/relay/auth.js';
import { freePort, RedisServer, sleep, waitFor } from '../scripts/redis-process.js';

export const NETWORK_SECRET = 'chaos-network-secret';
export const JWT_SECRET = 'chaos-jwt-secret-0123456789';
export const ADMIN_TOKEN = 'chaos-admin-token-0123456789';

export class Proc {
  child: ChildProcess | undefined;
  output = '';
  /** Exits nobody asked for (a crash), with the end of the process' output. */
  readonly crashes: string[] = [];
  private stopping = false;

  constructor(
    readonly name: string,
    private readonly args: string[],
    private readonly env: Record<string, string>,
    /** A clean exit (status 0) is expected, e.g. a game server that was drained. */
    private readonly exitsOnItsOwn = false,
  ) {
    process.once('exit', () => this.child?.kill('SIGKILL')); // never outlive the suite
  }

  start(): ChildProcess {
    this.output = '';
    const child = spawn(process.execPath, ['--import', 'tsx', ...this.args], {
      env: { ...process.env, ...this.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const keep = (b: Buffer) => { this.output = (this.output + b.toString()).slice(-20_000); };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    this.stopping = false;
    child.once('exit', (code, signal) => {
      if (!this.stopping && !(code === 0 && this.exitsOnItsOwn))
        this.crashes.push(`${this.name} exited (${code ?? signal}): ${this.output.slice(-2000)}`);
    });
    this.child = child;
    return child;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Freezes the process (SIGSTOP) or wakes it (SIGCONT): hung, not dead. */
  freeze(frozen: boolean): void {
    this.child?.kill(frozen ? 'SIGSTOP' : 'SIGCONT');
  }

  /** Sends the signal and waits for the exit (at most `ms`, then kill -9). */
  async stop(signal: NodeJS.Signals = 'SIGKILL', ms = 30_000): Promise<number | null> {
    const c = this.child;
    if (!c || !this.running) return c?.exitCode ?? null;
    const exited = new Promise<number | null>((r) => c.once('exit', (code) => r(code)));
    this.stopping = true;
    c.kill(signal);
    const code = await Promise.race([exited, sleep(ms).then(() => undefined)]);
    if (code === undefined) {
      c.kill('SIGKILL');
      return exited;
    }
    return code;
  }
}

export interface MeshOptions {
  bridges: number;
  servers: number;
  world: string;
  bridgeEnv?: Record<string, string>;
  serverArgs?: (id: string) => string[];
}

export class ProcessMesh {
  readonly bridges: { proc: Proc; url: string; id: string }[] = [];
  readonly servers: Proc[] = [];
  private readonly tokens = new TokenVerifier({ jwtSecret: JWT_SECRET });

  private constructor(readonly redis: RedisServer, private readonly opts: MeshOptions) {}

  static async start(opts: MeshOptions): Promise<ProcessMesh> {
    const mesh = new ProcessMesh(await RedisServer.start({ persistent: true }), opts);
    for (let i = 1; i <= opts.bridges; i++) {
      const id = `n${i}`;
      const port = await freePort();
      const proc = new Proc(id, ['bridge/main.ts'], {
        MESHBRIDGE_NODE_ID: id, MESHBRIDGE_PORT: String(port), MESHBRIDGE_HOST: '127.0.0.1', MESHBRIDGE_REDIS_URL: mesh.redis.url,
        MESHBRIDGE_NETWORK_SECRET: NETWORK_SECRET, MESHBRIDGE_JWT_SECRET: JWT_SECRET, MESHBRIDGE_ADMIN_TOKEN: ADMIN_TOKEN,
        MESHBRIDGE_WORLD: opts.world, MESHBRIDGE_LOG_LEVEL: 'error', ...opts.bridgeEnv,
      });
      mesh.bridges.push({ proc, url: `http://127.0.0.1:${port}`, id });
    }
    await Promise.all(mesh.bridges.map((_, i) => mesh.startBridge(i)));
    for (let i = 1; i <= opts.servers; i++) {
      const id = `s${i}`;
      const urls = mesh.bridges.map((b) => b.url);
      const rotated = [...urls.slice(i % urls.length), ...urls.slice(0, i % urls.length)];
      mesh.servers.push(
        new Proc(
          id,
          ['gameserver-stub/main.ts', '--id', id, '--url', rotated.join(','), ...(opts.serverArgs?.(id) ?? [])],
          {
            MESHBRIDGE_NETWORK_SECRET: NETWORK_SECRET,
          },
          true,
        ),
      );
    }
    for (let i = 0; i < mesh.servers.length; i++) await mesh.startServer(i);
    return mesh;
  }

  async startBridge(i: number): Promise<void> {
    const b = this.bridges[i]!;
    b.proc.start();
    await waitFor(() => fetch(`${b.url}/readyz`).then((r) => r.ok, () => false), 30_000, `${b.id} ready`);
  }

  async startServer(i: number): Promise<void> {
    const p = this.servers[i]!;
    p.start();
    await waitFor(() => p.output.includes('registered') || !p.running, 30_000, `${p.name} registered`);
    if (!p.running) throw new Error(`${p.name} exited: ${p.output}`);
  }

  token(player: string): Promise<string> {
    return this.tokens.issue(player);
  }

  async admin(path: string, body?: object): Promise<Response> {
    const live = this.bridges.filter((b) => b.proc.running);
    const b = live[Math.floor(Math.random() * live.length)]!;
    return fetch(`${b.url}/v1/admin/${path}`, {
      method: body ? 'POST' : 'GET', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.servers.map((s) => s.stop('SIGKILL')));
    await Promise.all(this.bridges.map((b) => b.proc.stop('SIGTERM', 5000)));
    await this.redis.stop();
  }
}
