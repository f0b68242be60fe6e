// Mocha root hooks: one real redis-server per test run, on a free port.
import { spawnSync } from 'node:child_process';
import { RedisServer } from './harness.js';

let redis: RedisServer | undefined;

export function sharedRedis(): RedisServer {
  if (!redis) throw new Error('redis-server not started (test/setup.ts root hook)');
  return redis;
}

export const mochaHooks = {
  async beforeAll(this: Mocha.Context) {
    this.timeout(15_000);
    if (spawnSync('redis-server', ['--version']).status !== 0) {
      throw new Error('redis-server not found: the tests start their own; install it with `sudo apt-get install -y redis-server`');
    }
    redis = await RedisServer.start();
  },
  async afterAll() {
    await redis?.stop();
  },
};
