// Profiles one bridge node under load: `npm run bench:profile [-- rate seconds]` writes a
// .cpuprofile of the bridge to bench/results/ (open it in Chrome DevTools) and prints the top
// functions by self time.
import { fork, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { freePort, RedisServer, sleep, waitFor } from '../scripts/redis-process.js';
import type { LoadCommand, RunResult } from './load.js';

const rate = Number(process.argv[2] ?? 12000);
const seconds = Number(process.argv[3] ?? 6);
/** --no-prof: the same run without the profiler, to time it. */
const profiling = !process.argv.includes('--no-prof');
const dir = 'bench/results/profile';
rmSync(dir, { recursive: true, force: true });
mkdirSync(dir, { recursive: true });
const redis = await RedisServer.start();
const port = await freePort();
const env = {
  ...process.env,
  MESHBRIDGE_PORT: String(port),
  MESHBRIDGE_HOST: '127.0.0.1',
  MESHBRIDGE_REDIS_URL: redis.url,
  MESHBRIDGE_NETWORK_SECRET: 'bench-network-secret',
  MESHBRIDGE_JWT_SECRET: 'bench-jwt-secret-0123456789',
  MESHBRIDGE_LOG_LEVEL: 'warn',
  MESHBRIDGE_INPUTS_PER_SECOND: '1000000',
  MESHBRIDGE_INPUT_BURST: '1000000',
};
// As shipped (compiled), like the bench: see bench/run.ts `start`.
if (spawnSync('npm', ['run', 'build'], { stdio: 'inherit' }).status !== 0) throw new Error('npm run build failed');
const bridge = spawn(
  process.execPath,
  [...(profiling ? ['--cpu-prof', `--cpu-prof-dir=${dir}`] : []), 'dist/bridge/main.js'],
  { env, stdio: 'inherit' },
);
const url = `http://127.0.0.1:${port}`;
await waitFor(() => fetch(`${url}/readyz`).then((r) => r.ok, () => false), 20_000, 'bridge ready');
const echo: ChildProcess = spawn(process.execPath, ['dist/gameserver-stub/main.js', '--id', 'e1', '--url', url, '--echo'], {
  env,
  stdio: 'ignore',
});
await sleep(1500);
const load = fork(new URL('./load.ts', import.meta.url), [], { execArgv: ['--import', 'tsx'] });
const ask = <T>(cmd: LoadCommand) => new Promise<T>((resolve) => { load.once('message', (m: T) => resolve(m)); load.send(cmd); });
await ask({ cmd: 'connect', url: `${url}/client`, count: 200, jwtSecret: 'bench-jwt-secret-0123456789', prefix: 'p' });
const running = ask<RunResult>({ cmd: 'run', rate, seconds });
await sleep((seconds * 1000) / 2);
const lag = (await (await fetch(`${url}/metrics`)).text())
  .split('\n')
  .filter((l) => l.startsWith('nodejs_eventloop_lag_'))
  .map((l) => l.replace(/\{[^}]*\}/, ''));
console.log(`bridge event loop: ${lag.join(', ')}`);
const r = await running;
console.log(
  `${rate}/s for ${seconds}s: achieved ${r.achieved.toFixed(0)}/s ` +
    `p50 ${r.p50.toFixed(2)} p99 ${r.p99.toFixed(2)} max ${r.max.toFixed(2)} ms`,
);
load.kill('SIGKILL');
echo.kill('SIGKILL');
const exited = new Promise((res) => bridge.once('exit', res));
bridge.kill('SIGINT');
await exited;
await redis.stop();
if (!profiling) process.exit(0);
// The largest profile is the main thread's (tsx adds a loader thread).
const file = readdirSync(dir)
  .filter((f) => f.endsWith('.cpuprofile'))
  .map((f) => ({ f, size: statSync(`${dir}/${f}`).size }))
  .sort((x, y) => y.size - x.size)[0]!.f;
const profile = JSON.parse(readFileSync(`${dir}/${file}`, 'utf8')) as {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[]; samples: number[]; timeDeltas: number[];
};
const self = new Map<number, number>();
profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
const byFn = new Map<string, number>();
for (const n of profile.nodes) {
  const where = n.callFrame.url.replace(/.*node_modules\//, '').replace(/.*\/main\//, '');
  const key = `${n.callFrame.functionName || '(anonymous)'} ${where}:${n.callFrame.lineNumber}`;
  byFn.set(key, (byFn.get(key) ?? 0) + (self.get(n.id) ?? 0));
}
const total = [...byFn.values()].reduce((a, b) => a + b, 0);
console.log(`profile ${dir}/${file}; top self time:`);
for (const [k, v] of [...byFn].sort((a, b) => b[1] - a[1]).slice(0, 30)) {
  console.log(`${((100 * v) / total).toFixed(1).padStart(5)}%  ${k}`);
}
process.exit(0);
