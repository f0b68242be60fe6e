// Mocha root hooks: one real redis-server per test run, on a free port.
import { RedisServer } from './harness.js';

let redis: RedisServer | undefined;

export function sharedRedis(): RedisServer {
  if (!redis) throw new Error('redis-server not started (test/setup.ts root hook)');
  return redis;
}

export const mochaHooks = {
  async beforeAll(this: Mocha.Context) {
    this.timeout(15_000);
    redis = await RedisServer.start();
  },
  async afterAll() {
    await redis?.stop();
  },
};
