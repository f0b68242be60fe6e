// Redis Sentinel: bridge nodes given only the sentinels find the master through them, and when the
// master is killed and Sentinel promotes its replica, they follow it and serve on (ioredis asks the
// sentinels again on reconnect). A master, a replica and one sentinel, all real redis-server processes.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { Redis } from 'ioredis';
import { freePort, Mesh, RedisServer, waitFor } from './harness.js';

describe('Redis Sentinel', () => {
  let master: RedisServer;
  let replica: RedisServer;
  let sentinel: ChildProcess;
  let sentinelPort: number;
  let mesh: Mesh;

  beforeEach(async function () {
    this.timeout(20_000);
    master = await RedisServer.start();
    // Redis waits 5 s for more replicas before a diskless full sync by default.
    const m = new Redis(master.url);
    await m.config('SET', 'repl-diskless-sync-delay', '0');
    m.disconnect();
    const dir = mkdtempSync(join(tmpdir(), 'meshbridge-sentinel-'));
    // Its own directory: a replica writes the master's snapshot it loads to disk.
    replica = new RedisServer(await freePort(), undefined, ['--replicaof', '127.0.0.1', String(master.port), '--dir', dir]);
    await replica.start();
    const r = new Redis(replica.url);
    await waitFor(async () => (await r.info('replication')).includes('master_link_status:up'), 10_000, 'the replica to sync');
    r.disconnect();
    sentinelPort = await freePort();
    const conf = join(dir, 'sentinel.conf');
    writeFileSync(conf, [
      `port ${sentinelPort}`, 'bind 127.0.0.1',
      `sentinel monitor mb-test 127.0.0.1 ${master.port} 1`,
      'sentinel down-after-milliseconds mb-test 500',
      'sentinel failover-timeout mb-test 3000',
    ].join('\n'));
    sentinel = spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' });
    const probe = new Redis(sentinelPort, '127.0.0.1', { lazyConnect: true, retryStrategy: () => 50 });
    probe.on('error', () => {});
    await waitFor(async () => {
      const addr = (await probe.call('SENTINEL', 'get-master-addr-by-name', 'mb-test').catch(() => null)) as string[] | null;
      return addr?.[1] === String(master.port);
    }, 10_000, 'the sentinel to know the master');
    probe.disconnect();
    mesh = new Mesh(master);
  });

  afterEach(async () => {
    await mesh.close();
    sentinel.kill('SIGKILL');
    await Promise.all([master.stop(), replica.stop()]);
  });

  it('nodes reach the master through the sentinel and follow it to the promoted replica', async function () {
    this.timeout(40_000);
    const viaSentinel = { redisSentinels: [`127.0.0.1:${sentinelPort}`], redisSentinelName: 'mb-test', redisUrl: 'redis://127.0.0.1:1' };
    const [a, b] = [await mesh.addBridge(viaSentinel), await mesh.addBridge(viaSentinel)];
    const s1 = await mesh.addServer(b, 's1');
    const alice = await mesh.addClient([a, b], 'alice');
    for (let i = 0; i < 20; i++) alice.send({ dx: 1, dy: 0 });
    await waitFor(() => alice.ack === 20, 5000, 'inputs through the master');
    // The nodes' records went to the master named by the sentinel (redisUrl points nowhere).
    const onMaster = new Redis(master.url);
    expect(await onMaster.zcard(`mb:{${mesh.world}}:nodes`)).to.equal(2);
    onMaster.disconnect();
    await waitFor(async () => {
      const r = new Redis(replica.url);
      const synced = await r.zcard(`mb:{${mesh.world}}:nodes`);
      r.disconnect();
      return synced === 2;
    }, 5000, 'the replica to have the records');

    await master.stop();
    const promoted = new Redis(replica.url);
    await waitFor(async () => (await promoted.info('replication')).includes('role:master'), 20_000, 'sentinel to promote the replica');
    promoted.disconnect();
    for (let i = 0; i < 20; i++) alice.send({ dx: 1, dy: 0 });
    await waitFor(() => alice.ack === 40, 20_000, 'inputs after the failover');
    expect(s1.applied.get('alice')).to.deep.equal(Array.from({ length: 40 }, (_, i) => i + 1));
    await waitFor(async () => (await fetch(`${mesh.url(a)}/readyz`)).ok && (await fetch(`${mesh.url(b)}/readyz`)).ok, 10_000, 'both ready');
  });
});
