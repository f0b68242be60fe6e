// Mocha root hooks: one real redis-server per test run, on a free port. With MESH_REDIS=cluster
// (`npm run test:cluster`) also a local 3-master Redis Cluster, which every Mesh then runs on.
import { spawnSync } from 'node:child_process';
import { LocalRedisCluster, RedisServer } from './harness.js';

let redis: RedisServer | undefined;
let cluster: LocalRedisCluster | undefined;

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
    if (process.env.MESH_REDIS === 'cluster') {
      cluster = await LocalRedisCluster.start(3);
      process.env.MESH_REDIS_CLUSTER = cluster.urls.join(',');
    }
  },
  async afterAll() {
    await redis?.stop();
    await cluster?.stop();
  },
};
