// `npm start [-- --fresh | --cluster | --cpp]`: a whole local mesh — Redis (started if none is reachable, its
// data in .mesh/redis; --fresh starts from an empty one; --cluster starts a local Redis Cluster
// instead, and MESHBRIDGE_REDIS_CLUSTER_NODES names an existing one), two bridge nodes, three reference servers and bot
// players (--cpp: a fourth server, the C++ reference server, when it is built). Prints the URLs; Ctrl-C (or a signal to
// npm alone) stops everything it started, in order.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { LocalRedisCluster } from './redis-process.js';

const BASE_PORT = Number(process.env.MESH_BASE_PORT ?? 8080);
const REDIS_URL = process.env.MESHBRIDGE_REDIS_URL ?? 'redis://127.0.0.1:6379';
const BOTS = Number(process.env.MESH_BOTS ?? 12);
const children: ChildProcess[] = [];
const gameServers = new Set<ChildProcess>();
let redisChild: ChildProcess | undefined;
let localCluster: LocalRedisCluster | undefined;
// eslint-disable-next-line prefer-const -- assigned once the bridges are up, at the end of the script
let botsChild: ChildProcess | undefined;

function reachable(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const sock = createConnection({ host: hostname, port: Number(port || 6379) });
    sock.setTimeout(500);
    sock.once('connect', () => { sock.end(); resolve(true); });
    sock.once('error', () => resolve(false));
    sock.once('timeout', () => { sock.destroy(); resolve(false); });
  });
}

/** Runs a TypeScript entry point (or, with `native`, that executable) as a child of the mesh. */
function run(name: string, args: string[], env: Record<string, string> = {}, native?: string): ChildProcess {
  // Own process group: the terminal's Ctrl-C reaches only this script, which stops the rest in order
  // (a game server that got SIGINT too would start draining while the mesh is torn down).
  const child = spawn(native ?? process.execPath, native ? args : ['--import', 'tsx', ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const prefix = `[${name}] `;
  for (const stream of [child.stdout, child.stderr]) {
    stream?.on('data', (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n')) if (line.trim()) process.stdout.write(prefix + line + '\n');
    });
  }
  child.once('exit', (code, signal) => { if (!stopping) process.stdout.write(`${prefix}exited (${signal ?? code})\n`); });
  children.push(child);
  return child;
}

async function waitReady(url: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await fetch(`${url}/readyz`).then((r) => r.ok, () => false)) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${url} did not become ready`);
}

let stopping = false;
const exited = (c: ChildProcess) =>
  c.exitCode !== null || c.signalCode !== null ? Promise.resolve() : new Promise((r) => c.once('exit', r));
/**
 * Stops the mesh in a deliberate order: bots, then game servers (SIGKILL: a drain is pointless when
 * every server stops; the next start recovers their areas from their autosave), then bridge nodes,
 * then Redis (SIGTERM: it writes its data).
 */
async function stop(code = 0): Promise<never> {
  if (stopping) return new Promise<never>(() => {});
  stopping = true;
  const bots = children.filter((c) => c === botsChild);
  const servers = children.filter((c) => gameServers.has(c));
  const nodes = children.filter((c) => !gameServers.has(c) && c !== botsChild && c !== redisChild);
  const redis = children.filter((c) => c === redisChild);
  for (const [group, signal] of [[bots, 'SIGTERM'], [servers, 'SIGKILL'], [nodes, 'SIGTERM'], [redis, 'SIGTERM']] as const) {
    for (const c of group) c.kill(signal);
    await Promise.all(group.map(exited));
  }
  await localCluster?.stop();
  process.exit(code);
}
process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());
// `npm start` puts npm, a shell and tsx above this script, and a signal sent to npm alone may not
// be passed down: when one of them is gone, stop as for Ctrl-C.
const parentOf = (pid: number): number | undefined => {
  try {
    return Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]);
  } catch {
    return undefined; // no /proc (macOS): watch the direct parent only
  }
};
const ancestors = [process.ppid, parentOf(process.ppid)].filter((pid): pid is number => pid !== undefined && pid > 1);
setInterval(() => {
  for (const pid of ancestors) {
    try {
      process.kill(pid, 0);
    } catch {
      void stop();
    }
  }
}, 500).unref();

const redisUrl = REDIS_URL;
const fresh = process.argv.includes('--fresh');
// A Redis Cluster: the one named by MESHBRIDGE_REDIS_CLUSTER_NODES, or with --cluster a local one of 3 masters.
let clusterNodes = process.env.MESHBRIDGE_REDIS_CLUSTER_NODES ?? '';
if (!clusterNodes && process.argv.includes('--cluster')) {
  localCluster = await LocalRedisCluster.start(3, { detached: true });
  clusterNodes = localCluster.urls.join(',');
  process.stdout.write(`[mesh] started a local Redis Cluster of 3 masters: ${clusterNodes} (empty; gone when the mesh stops)\n`);
}

if (clusterNodes) {
  process.stdout.write(`[mesh] bridge nodes use the Redis Cluster at ${clusterNodes}\n`);
} else if (!(await reachable(redisUrl))) {
  if (spawnSync('redis-server', ['--version']).status !== 0) {
    process.stderr.write(
      `No Redis at ${redisUrl} and no redis-server binary: ` +
        'install it with `sudo apt-get install -y redis-server` (macOS: `brew install redis`).\n',
    );
    process.exit(1);
  }
  const port = Number(new URL(redisUrl).port || 6379);
  if (fresh) rmSync('.mesh/redis', { recursive: true, force: true });
  mkdirSync('.mesh/redis', { recursive: true });
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', '.mesh/redis', '--appendonly', 'yes', '--save', ''];
  const redis = spawn('redis-server', args, { stdio: 'ignore', detached: true });
  redisChild = redis;
  children.push(redis);
  for (let i = 0; i < 50 && !(await reachable(redisUrl)); i++) await new Promise((r) => setTimeout(r, 100));
  process.stdout.write(`[mesh] started redis-server at ${redisUrl} (data in .mesh/redis, kept between runs; `
    + '`npm start -- --fresh` starts empty)\n');
} else if (fresh) {
  process.stdout.write(`[mesh] --fresh applies to the Redis this script starts; ${redisUrl} was already running and is used as it is\n`);
}

const networkSecret = process.env.MESHBRIDGE_NETWORK_SECRET ?? randomBytes(12).toString('hex');
const shared = {
  MESHBRIDGE_REDIS_URL: redisUrl,
  MESHBRIDGE_REDIS_CLUSTER_NODES: clusterNodes,
  MESHBRIDGE_NETWORK_SECRET: networkSecret,
  MESHBRIDGE_JWT_SECRET: process.env.MESHBRIDGE_JWT_SECRET ?? randomBytes(24).toString('hex'),
  MESHBRIDGE_DEV_LOGIN: 'true',
  MESHBRIDGE_ADMIN_TOKEN: process.env.MESHBRIDGE_ADMIN_TOKEN ?? 'local-admin-token',
  MESHBRIDGE_HOST: '127.0.0.1',
  // Only this machine reaches these nodes (127.0.0.1): the dashboard opens without a token. Never in production.
  MESHBRIDGE_DASHBOARD_OPEN: 'true',
  MESHBRIDGE_WORLD_COLS: '3',
  MESHBRIDGE_WORLD_ROWS: '3',
  MESHBRIDGE_SPAWN_AREAS: '0,0 1,0 2,0 0,1 1,1 2,1 0,2 1,2 2,2',
  MESHBRIDGE_LOG_LEVEL: 'warn',
  // A small world moves often enough to watch: rebalance every 5 s above 4 players per unit of power.
  MESHBRIDGE_REBALANCE_THRESHOLD: '4',
  MESHBRIDGE_AREA_COOLDOWN_MS: '20000',
};
const bridges = [0, 1].map((i) => `http://127.0.0.1:${BASE_PORT + i}`);
bridges.forEach((_, i) => {
  run(`bridge-${i + 1}`, ['bridge/main.ts'], { ...shared, MESHBRIDGE_NODE_ID: `bridge-${i + 1}`, MESHBRIDGE_PORT: String(BASE_PORT + i) });
});
try {
  await Promise.all(bridges.map(waitReady));
} catch (err) {
  process.stderr.write(`[mesh] ${(err as Error).message}\n`);
  await stop(1);
}
const servers = [['s1', '1', bridges[0]!], ['s2', '2', bridges[1]!], ['s3', '1', bridges[0]!]] as const;
for (const [id, power, url] of servers) {
  const args = ['gameserver-stub/main.ts', '--id', id, '--power', power, '--url', url, '--roam'];
  gameServers.add(run(id, args, { MESHBRIDGE_NETWORK_SECRET: networkSecret }));
}
const CPP_SERVER = 'sdk-cpp/build/reference-server';
if (process.argv.includes('--cpp')) {
  if (existsSync(CPP_SERVER)) {
    const args = ['--id', 'c1', '--url', bridges.join(','), '--tick', '10'];
    gameServers.add(run('c1', args, { MESHBRIDGE_NETWORK_SECRET: networkSecret }, CPP_SERVER));
  } else {
    process.stdout.write('[mesh] --cpp: the C++ reference server is not built; build it with `npm run cpp:build` (docs/sdk-cpp.md)\n');
  }
}
await new Promise((r) => setTimeout(r, 1000));
botsChild = run('bots', ['scripts/bots.ts', '--count', String(BOTS), '--urls', bridges.join(',')]);

process.stdout.write(`
  Meshbridge local mesh is up.
    dashboard        ${bridges[0]}/dashboard   (open without a token: MESHBRIDGE_DASHBOARD_OPEN, for this local mesh only)
    bridge nodes     ${bridges.join('  ')}   (clients: /client, servers: /server)
    network listing  ${bridges[0]}/v1/network
    metrics          ${bridges[0]}/metrics
    admin API        ${bridges[0]}/v1/admin/servers   (Authorization: Bearer ${shared.MESHBRIDGE_ADMIN_TOKEN})
    dev login        curl -XPOST ${bridges[0]}/v1/login -H 'content-type: application/json' -d '{"player":"me"}'
    another server   MESHBRIDGE_NETWORK_SECRET=${networkSecret} npm run stub -- --id s4 --url ${bridges[1]}
                     (it fetches the world's chunks first: "syncing" on the dashboard, then ready)
  Ctrl-C stops everything.

`);
