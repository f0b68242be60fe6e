// `npm run cpp:test`: builds the C++ SDK three times — plain, with AddressSanitizer and
// UndefinedBehaviorSanitizer, and with ThreadSanitizer — and runs its unit tests (ctest) in each,
// the lifecycle stress test against a live bridge node (Redis and the node started here, on free
// loopback ports) as well as a dead port. Exits 1 if a build or a test fails.
import { spawn } from 'node:child_process';
import winston from 'winston';
import { BridgeNode } from '../bridge/bridge-node.js';
import { parseBridgeConfig } from '../shared/config.js';
import { RedisServer } from './redis-process.js';

const SECRET = 'cpp-test-network-secret';
// The sanitizer builds are Debug (-O0): they compile in half the time, and their tests are what matters.
// GCC warns that TSan does not model atomic_thread_fence (Asio uses it): -Wno-tsan keeps the log readable.
const variants: { dir: string; type: string; flags: string; examples: boolean }[] = [
  { dir: 'sdk-cpp/build', type: 'RelWithDebInfo', flags: '', examples: true },
  {
    dir: 'sdk-cpp/build-asan', type: 'Debug', flags: '-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all',
    examples: false,
  },
  { dir: 'sdk-cpp/build-tsan', type: 'Debug', flags: '-fsanitize=thread -Wno-tsan', examples: false },
];
const only = process.argv.includes('--plain') ? variants.slice(0, 1) : variants;

/** Runs a command to its end; asynchronously, so that the bridge node in this process serves meanwhile. */
function sh(cmd: string, args: string[], env: Record<string, string> = {}): Promise<boolean> {
  process.stdout.write(`$ ${cmd} ${args.join(' ')}\n`);
  const child = spawn(cmd, args, { stdio: 'inherit', env: { ...process.env, ...env } });
  return new Promise((resolve) => child.once('exit', (code) => resolve(code === 0)));
}

const redis = await RedisServer.start();
const node = new BridgeNode(parseBridgeConfig({
  nodeId: 'cpp-test', host: '127.0.0.1', port: 0, redisUrl: redis.url, world: 'cpp-test', networkSecret: SECRET,
  jwtSecret: 'cpp-test-jwt-secret-0123456789', logLevel: 'error',
}), winston.createLogger({ silent: true }));
const port = await node.start();
let ok = true;
try {
  for (const v of only) {
    const started = performance.now();
    const configured = await sh('cmake', [
      '-S', 'sdk-cpp', '-B', v.dir, `-DCMAKE_BUILD_TYPE=${v.type}`, `-DMESHBRIDGE_BUILD_EXAMPLES=${v.examples ? 'ON' : 'OFF'}`,
      `-DCMAKE_CXX_FLAGS=${v.flags}`, ...(v.flags ? [`-DCMAKE_EXE_LINKER_FLAGS=${v.flags.replace(' -Wno-tsan', '')}`] : []),
    ]);
    const built = configured && (await sh('cmake', ['--build', v.dir, '-j', '2']));
    const tested = built && (await sh('ctest', ['--test-dir', v.dir, '--output-on-failure'], {
      MESHBRIDGE_TEST_URL: `http://127.0.0.1:${port}`, MESHBRIDGE_NETWORK_SECRET: SECRET, TSAN_OPTIONS: 'halt_on_error=1',
    }));
    process.stdout.write(`cpp:test ${v.dir}: ${tested ? 'passed' : 'FAILED'} in ${((performance.now() - started) / 1000).toFixed(0)} s\n`);
    ok &&= tested;
  }
} finally {
  await node.close();
  await redis.stop();
}
process.exit(ok ? 0 : 1);
